# Copyright (c) deepmark_mm contributors. All rights reserved.
"""One checkpoint fit rule for every entry point: a checkpoint of another model is refused unless
``load_partial=True`` asks for it (issue 30). The other model is the demo's ``_semantic-channels``
variant: only its landmark heatmap layer differs, so box mAP would look plausible."""
import pickle
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope

from deepmark_mm.utils import checkpoint_loading

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128.py'
KPT_LAYER = 'bbox_head.kpt_heatmap_head.0.2.weight'


@pytest.fixture(scope='module')
def other_model_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the demo model with semantic (69) landmark heatmap channels."""
    init_default_scope('mmdet')
    other = Config.fromfile(str(REPO / CONFIG.replace('.py', '_semantic-channels.py')))
    path = tmp_path_factory.mktemp('ckpt') / 'semantic_channels.pth'
    torch.save(dict(state_dict=MODELS.build(other.model).state_dict(), meta=dict()), path)
    return path


def build_runner(tmp_path, **options):
    cfg = Config.fromfile(str(REPO / CONFIG))
    cfg.merge_from_dict(dict(work_dir=str(tmp_path), **options))
    return RUNNERS.build(cfg)


def assert_refusal(message: str, checkpoint: Path) -> None:
    assert f'checkpoint {checkpoint} does not fit the model of' in message
    assert 'deepmark_dla46c_1xb8-4000it_synthetic-128.py' in message
    assert f'{KPT_LAYER} (69, 64, 1, 1) vs (294, 64, 1, 1)' in message
    assert 'load_partial=True' in message


def test_tools_test_refuses_a_checkpoint_of_another_model(other_model_checkpoint, tmp_path,
                                                          load_tool, monkeypatch):
    """tools/test.py (what ``mim test`` runs) used to report mAP from partly random weights."""
    from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
    make_synthetic_deepfashion2(str(tmp_path / 'data'), num_train=1, num_val=2, size=128)
    data = f'{tmp_path}/data/'
    monkeypatch.setattr(sys, 'argv', [
        'test.py', str(REPO / CONFIG), str(other_model_checkpoint), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', f'test_dataloader.dataset.data_root={data}',
        f'test_evaluator.ann_file={data}validation/deepfashion2_validation.json',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'])
    with pytest.raises(RuntimeError) as error:
        load_tool('tools/test.py').main()
    assert_refusal(str(error.value), other_model_checkpoint)


def test_load_partial_loads_what_fits_and_warns(other_model_checkpoint, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(checkpoint_loading, 'print_log', lambda msg, **kw: warnings.append(msg))
    runner = build_runner(tmp_path, load_from=str(other_model_checkpoint), load_partial=True)
    before = runner.model.state_dict()[KPT_LAYER].clone()
    runner.load_or_resume()
    state = runner.model.state_dict()
    saved = torch.load(other_model_checkpoint, weights_only=True)['state_dict']
    neck = next(k for k in saved if k.startswith('neck.') and k.endswith('weight'))
    assert torch.equal(state[neck], saved[neck])
    assert torch.equal(state[KPT_LAYER], before)  # keeps its initialisation
    assert len(warnings) == 1 and KPT_LAYER in warnings[0] and 'load_partial' in warnings[0]


def test_resume_is_strict_even_with_load_partial(other_model_checkpoint, tmp_path):
    runner = build_runner(tmp_path, load_from=str(other_model_checkpoint), resume=True,
                          load_partial=True)
    with pytest.raises(RuntimeError) as error:
        runner.load_or_resume()
    assert_refusal(str(error.value), other_model_checkpoint)


def test_a_fitting_checkpoint_loads_strictly(tmp_path):
    runner = build_runner(tmp_path, resume=True)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in runner.model.state_dict().items()}
    torch.save(dict(state_dict=state), tmp_path / 'fits.pth')
    runner.load_checkpoint(str(tmp_path / 'fits.pth'))
    assert torch.equal(runner.model.state_dict()[KPT_LAYER], state[KPT_LAYER])


def test_inferencer_export_and_benchmark_apply_the_same_rule(other_model_checkpoint, load_tool):
    from deepmark_mm.apis import DeepMarkInferencer
    from deepmark_mm.deployment.onnx_export import build_detector
    build_model = load_tool('tools/analysis_tools/benchmark.py').build_model
    path = str(other_model_checkpoint)
    for load in (lambda: DeepMarkInferencer(str(REPO / CONFIG), path, device='cpu'),
                 lambda: build_detector(str(REPO / CONFIG), path),
                 lambda: build_model(str(REPO / CONFIG), path, 'cpu')):
        with pytest.raises(RuntimeError) as error:
            load()
        assert_refusal(str(error.value), other_model_checkpoint)
    model = build_detector(str(REPO / CONFIG), path, cfg_options=dict(load_partial=True))
    assert model.bbox_head.kpt_heatmap_head[0][2].weight.shape[0] == 294


def test_centernet_converter_names_an_untrusted_file_and_the_switch(
        tmp_path, load_tool, monkeypatch):
    monkeypatch.delenv(checkpoint_loading.TRUST_ENV, raising=False)
    monkeypatch.setattr(checkpoint_loading, '_TRUSTED_PATHS', set())
    path = tmp_path / 'ctdet_untrusted.pth'
    torch.save(dict(state_dict={'hm.2.weight': torch.zeros(1)}, extra=Path('x')), path)
    converter = load_tool('tools/model_converters/centernet_to_deepmark.py')
    with pytest.raises(pickle.UnpicklingError, match='ctdet_untrusted.pth') as error:
        converter.load_centernet_state_dict(str(path))
    assert '--trust-checkpoint' in str(error.value)
    checkpoint_loading.trust_checkpoint(str(path))
    assert list(converter.load_centernet_state_dict(str(path))) == ['hm.2.weight']
