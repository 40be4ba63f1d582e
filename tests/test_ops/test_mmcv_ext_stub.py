# Copyright (c) deepmark_mm contributors. All rights reserved.
"""On mmcv-lite, `import deepmark_mm` lets mmcv.ops / mmdet.models import, ops raise when called,
and mmengine / mmcv still report that compiled ops are absent."""
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


def test_a_missing_op_raises_at_call_time_naming_it_and_the_fix():
    import mmcv.ops
    import torch

    from deepmark_mm.mmcv_ext_stub import MissingMmcvOpError
    with pytest.raises(MissingMmcvOpError, match=r'(?s)mmcv op `nms` is not available.*'
                       r'DEEPMARK_MMCV=full bash tools/setup_env.sh'):
        mmcv.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
    layer = mmcv.ops.RoIAlign((7, 7))  # building works; only the compiled call raises
    with pytest.raises(MissingMmcvOpError, match='mmcv op `roi_align_forward`'):
        layer(torch.rand(1, 2, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
