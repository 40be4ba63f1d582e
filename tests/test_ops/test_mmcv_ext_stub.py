# Copyright (c) deepmark_mm contributors. All rights reserved.
"""On mmcv-lite, `import deepmark_mm` lets mmcv.ops / mmdet.models import, the stand-in kernels
run, the others raise when called, and mmengine / mmcv still report that compiled ops are absent."""
import subprocess
import sys

import pytest

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops

pytestmark = pytest.mark.skipif(mmcv_has_compiled_ops(),
                                reason='full mmcv is installed: the stand-in is not used')


def run_python(code):
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    return out.returncode, out.stdout.strip().splitlines(), out.stderr


def test_mmdet_models_import_fails_without_and_works_with_the_stand_in():
    code, _, err = run_python('import mmdet.models')
    assert code != 0 and "No module named 'mmcv._ext'" in err
    code, lines, err = run_python('''
import deepmark_mm, mmdet.models, mmcv.ops
from mmengine.utils.dl_utils import mmcv_full_available
from mmcv.utils.ext_loader import check_ops_exist
print(mmcv_full_available(), check_ops_exist(), mmcv.ops.nms.__module__)
''')
    assert code == 0, err[-2000:]
    assert lines[-1] == 'False False mmcv.ops.nms'


def test_provided_kernels_run_and_a_missing_one_raises_naming_it_and_the_fix():
    import mmcv.ops
    import torch

    from deepmark_mm.mmcv_ext_stub import KERNELS, MissingMmcvOpError
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [50., 50., 60., 60.]])
    assert mmcv.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)[1].tolist() == [0, 2]
    out = mmcv.ops.RoIAlign((2, 2), aligned=True)(torch.ones(1, 2, 8, 8),
                                                   torch.tensor([[0., 1., 1., 5., 5.]]))
    assert out.shape == (1, 2, 2, 2) and torch.allclose(out, torch.ones(1))
    assert {'nms', 'softnms', 'roi_align_forward', 'modulated_deform_conv_backward'} <= set(KERNELS)
    with pytest.raises(MissingMmcvOpError, match=r'(?s)mmcv kernel `ball_query_forward` needs '
                       r'full mmcv: this mmcv is mmcv-lite.*provides only nms, softnms.*'
                       r'DEEPMARK_MMCV=full bash tools/setup_env.sh') as error:
        mmcv.ops.ball_query(0, 0.2, 4, torch.rand(1, 8, 3), torch.rand(1, 2, 3))
    assert 'deepmark_mm itself' not in str(error.value) and 'deepmark_mm.ops' not in str(
        error.value)
    with pytest.raises(MissingMmcvOpError, match=r"roi_align_forward` needs full mmcv.*'max'"):
        mmcv.ops.RoIAlign((2, 2), pool_mode='max')(torch.ones(1, 2, 8, 8),
                                                   torch.tensor([[0., 1., 1., 5., 5.]]))
