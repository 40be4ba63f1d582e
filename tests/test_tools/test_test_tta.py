# Copyright (c) deepmark_mm contributors. All rights reserved.
"""TTA configs and ``tools/test.py CONFIG CKPT --tta`` on a tiny synthetic set."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import deepmark_mm  # noqa: F401
from make_synthetic_deepfashion2 import coco_file_name, make_synthetic_deepfashion2
from deepmark_mm.models.test_time_augs import DeepMarkTTAModel

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'deepmark'
SYNTHETIC_DLA = CONFIG_DIR / 'deepmark_dla34_1xb8-12e_synthetic-128.py'
COLUMNS = {  # paper column -> (flip, nms, scales)
    'nms': (False, True, [1.0]),
    'flip': (True, None, [1.0]),
    'flip-ms': (True, None, [1.0, 0.75]),
}
TTA_CONFIGS = {
    (base, column): CONFIG_DIR / f'{base}_{column}.py'
    for base, _ in [('deepmark_dla34_8xb5-63e_deepfashion2-512',
                     512), ('deepmark_hourglass104_8xb5-63e_deepfashion2-512',
                            512), ('deepmark_dla34_1xb8-12e_synthetic-128', 128)]
    for column in COLUMNS
}
METRIC_KEYS = {
    f'deepfashion2/{name}'
    for name in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_m', 'bbox_mAP_l', 'kpt_mAP',
                 'kpt_mAP_50', 'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')
}


def load_test_tool():
    spec = importlib.util.spec_from_file_location('deepmark_test_tool', REPO / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def view_sizes(pipeline):
    tta = pipeline[-1]
    assert tta['type'] == 'TestTimeAug'
    return [step['input_size'] for step in tta['transforms'][0]]


#: The soft-NMS and packer the old test-only column configs held, written out.
SOFT_NMS = dict(type='soft_nms', iou_threshold=0.5, sigma=0.5, min_score=0.001, method='gaussian')
PACK = dict(type='PackDeepMarkInputs',
            meta_keys=['img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                       'homography_matrix', 'flip', 'flip_direction', 'instances'])


def resolved_with_tta_flag(path: Path, *cfg_options: str) -> Config:
    """``tools/test.py PATH CKPT --tta [--cfg-options ...]``'s config."""
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict({key: DictAction._parse_iterable(value)  # as --cfg-options parses
                             for key, value in (option.split('=', 1) for option in cfg_options)})
    load_test_tool().enable_tta(cfg)
    return cfg


def plain(value):
    """Config values as plain dicts / lists; a square ``input_size`` pair as one int."""
    if isinstance(value, dict):
        return {key: (item[0] if key == 'input_size' and isinstance(item, (list, tuple))
                      and len(item) == 2 and item[0] == item[1] else plain(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


@pytest.mark.parametrize('key', list(TTA_CONFIGS), ids=['_'.join(k) for k in TTA_CONFIGS])
def test_tta_column_config_with_tta_flag_wraps_the_detector(key):
    base, column = key
    path = TTA_CONFIGS[key]
    assert len([line for line in path.read_text().splitlines()
                if line and not line.startswith('#')]) <= 5
    cfg = resolved_with_tta_flag(path)
    plain_cfg = Config.fromfile(str(CONFIG_DIR / f'{base}.py'))
    flip, nms, scales = COLUMNS[column]
    assert cfg.model.type == 'DeepMarkTTAModel'
    assert cfg.model.module.to_dict() == plain_cfg.model.to_dict()
    # the pipeline the old test-only config held
    assert plain(cfg.test_dataloader.dataset.pipeline) == [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='LoadDeepFashion2Annotations'),
        dict(type='TestTimeAug', transforms=[
            [dict(type='CenterAffine', input_size=round(plain_cfg.input_size * scale))
             for scale in scales], [PACK]])
    ]
    assert cfg.test_dataloader.dataset.ann_file == plain_cfg.test_dataloader.dataset.ann_file
    init_default_scope('mmdet')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert isinstance(model, DeepMarkTTAModel)
    # the model the old config held: defaults defined once, in DeepMarkTTAModel
    assert (model.flip, model.nms) == (flip, nms)
    assert model.nms_cfg == SOFT_NMS
    assert model.max_per_img == plain_cfg.model.test_cfg.max_per_img


def test_tta_flag_with_scales_option_equals_the_flip_ms_config():
    """``--tta --cfg-options tta_scales=[1.0,0.75]`` on the plain config = the *_flip-ms.py one."""
    by_option = resolved_with_tta_flag(SYNTHETIC_DLA, 'tta_scales=[1.0,0.75]')
    assert plain(view_sizes(by_option.test_dataloader.dataset.pipeline)) == [[128, 128], [96, 96]]
    ready = resolved_with_tta_flag(
        TTA_CONFIGS[('deepmark_dla34_1xb8-12e_synthetic-128', 'flip-ms')])
    assert by_option.model.to_dict() == ready.model.to_dict()
    assert by_option.test_dataloader.dataset.pipeline == ready.test_dataloader.dataset.pipeline


def test_tta_flag_twice_is_refused():
    cfg = resolved_with_tta_flag(SYNTHETIC_DLA)
    with pytest.raises(RuntimeError, match='drop --tta'):
        load_test_tool().enable_tta(cfg)


@pytest.fixture(scope='module')
def tiny_synthetic_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_deepfashion2(str(root), num_train=0, num_val=4, size=128, seed=0)
    return root


def data_options(root: Path):
    ann_file = root / coco_file_name('validation')
    return [
        f'test_dataloader.dataset.data_root={root}/', f'test_evaluator.ann_file={ann_file}',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False'
    ]


def test_tta_pipeline_views_of_a_synthetic_image(tiny_synthetic_set):
    """Two views per image (128 and 96 px) with matching homographies, one batch per view."""
    cfg = resolved_with_tta_flag(
        TTA_CONFIGS[('deepmark_dla34_1xb8-12e_synthetic-128', 'flip-ms')],
        *data_options(tiny_synthetic_set)[:1])
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    batch = pseudo_collate([dataset[0], dataset[1]])
    assert [[tuple(img.shape) for img in view] for view in batch['inputs']] == \
        [[(3, 128, 128)] * 2, [(3, 96, 96)] * 2]
    for full, small in zip(*batch['data_samples']):
        assert full.img_id == small.img_id and full.ori_shape == small.ori_shape
        ratio = small.homography_matrix[0, 0] / full.homography_matrix[0, 0]
        assert ratio == pytest.approx(0.75)


def test_tools_test_with_tta_reports_all_metrics(tmp_path, tiny_synthetic_set):
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(SYNTHETIC_DLA)).model)
    checkpoint = tmp_path / 'random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 0}}, checkpoint)
    work_dir = tmp_path / 'work'
    config = TTA_CONFIGS[('deepmark_dla34_1xb8-12e_synthetic-128', 'flip-ms')]
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    result = subprocess.run([
        sys.executable,
        str(REPO / 'tools' / 'test.py'),
        str(config),
        str(checkpoint), '--tta', '--work-dir',
        str(work_dir), '--cfg-options', *data_options(tiny_synthetic_set)
    ],
                            cwd=str(REPO),
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metric_files = [p for p in work_dir.glob('*/*.json')]
    assert len(metric_files) == 1, metric_files
    metrics = json.loads(metric_files[0].read_text())
    assert METRIC_KEYS <= set(metrics)
    for key in METRIC_KEYS - {'deepfashion2/bbox_mAP_l'}:  # no large garment in 128 px images
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    dumped = Config.fromfile(str(work_dir / config.name))
    assert dumped.model.type == 'DeepMarkTTAModel'
    assert plain(view_sizes(dumped.test_dataloader.dataset.pipeline)) == [[128, 128], [96, 96]]
