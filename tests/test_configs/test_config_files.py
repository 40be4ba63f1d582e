# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Every config parses and builds; the model configs train and predict at a small input."""
import importlib
import re
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.datasets.fld_dataset import get_fld_metainfo
from deepmark_mm.datasets.keypoint_metainfo import config_flip_indices, resolve_keypoint_metainfo

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' not in p.parts)
CONFIG_IDS = [str(p.relative_to(CONFIG_ROOT)) for p in CONFIGS]
DEEPFASHION2_CONFIGS = [p for p in CONFIGS if re.search(r'_deepfashion2-\d+\.py$', p.name)]
LOSS_KEYS = {
    'loss_center_heatmap', 'loss_wh', 'loss_offset', 'loss_kpt_reg', 'loss_kpt_heatmap',
    'loss_kpt_offset'
}


def load(path) -> Config:
    return Config.fromfile(str(path))


def pipeline_sizes(pipeline):
    return [step['input_size'] for step in pipeline if 'input_size' in step]


def test_config_names_are_unique():
    """``mim`` finds configs by file name."""
    names = [p.name for p in CONFIG_ROOT.rglob('*.py')]
    assert len(names) == len(set(names))
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize('path', CONFIGS, ids=CONFIG_IDS)
def test_config_parses_and_builds_its_model(path):
    cfg = load(path)
    if 'model' not in cfg:  # a fragment meant as a `_base_` (e.g. the TTA pieces)
        assert all(key.startswith('tta_') for key in cfg.keys()), sorted(cfg.keys())
        return
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports[0] == 'deepmark_mm'
    assert set(cfg.custom_imports.imports) <= {'deepmark_mm', 'deepmark_mm.cpu_training'}
    assert cfg.custom_imports.allow_failed_imports is False
    for module in cfg.custom_imports.imports:
        importlib.import_module(module)
    evaluators = cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else [cfg.val_evaluator]
    prefix = [e.get('prefix', 'deepfashion2') for e in evaluators
              if e.type == 'DeepFashion2Metric'][0]
    assert cfg.default_hooks.checkpoint.save_best in (f'{prefix}/kpt_mAP', None)
    assert cfg.default_hooks.checkpoint.rule == 'greater'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'test_evaluator', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert key in cfg, key
    init_default_scope('mmdet')
    # test-only configs wrap the detector in a TTA model
    wrapped = 'module' in cfg.model
    detector_cfg = cfg.model.module if wrapped else cfg.model
    assert detector_cfg.type == 'CenterNet'
    table = detector_cfg.bbox_head.get('kpt_heatmap_channels', None)
    if isinstance(table, str) and table.endswith('.json') and not Path(table).is_file():
        # a table the tool makes from the training annotations: build with the semantic one
        assert table.startswith('data/deepfashion2/'), table
        detector_cfg.bbox_head.kpt_heatmap_channels = 'semantic'
    with torch.device('meta'):  # shapes only: no memory for Hourglass-104's weights
        detector = MODELS.build(detector_cfg)
    if wrapped:
        tta_model = MODELS.build(dict(cfg.model, module=detector))
        assert tta_model.module is detector
    head = detector.bbox_head
    # DeepFashion2's 13 classes / 294 slots unless the config describes another landmark set
    meta = resolve_keypoint_metainfo(cfg.get('keypoint_meta', None))
    dataset = cfg.train_dataloader.dataset
    if str(dataset.get('type')).endswith('ConcatDataset'):
        types = {part.type for part in dataset.datasets}
        assert len(types) == 1, types
        if types == {'FLDDataset'}:
            meta = get_fld_metainfo()
            assert config_flip_indices(cfg) == meta['flip_indices']
            meta = resolve_keypoint_metainfo(meta)
    assert (head.num_classes, head.num_keypoints) == (len(meta['classes']), meta['num_keypoints'])
    assert [tuple(s) for s in head.keypoint_slices] == meta['keypoint_slices']
    assert head.num_feat_levels == detector_cfg.backbone.get('num_stacks', 1)


@pytest.mark.parametrize('path', DEEPFASHION2_CONFIGS, ids=[p.name for p in DEEPFASHION2_CONFIGS])
def test_paper_configs(path):
    cfg = load(path)
    size = int(re.search(r'-(\d+)\.py$', path.name).group(1))  # ..._deepfashion2-512.py
    assert pipeline_sizes(cfg.train_dataloader.dataset.pipeline) == [size]
    assert pipeline_sizes(cfg.val_dataloader.dataset.pipeline) == [size]
    assert pipeline_sizes(cfg.test_dataloader.dataset.pipeline) == [size]
    assert cfg.train_dataloader.batch_size == 5  # 8 GPUs x 5 = 40 (paper: 37)
    assert cfg.auto_scale_lr.base_batch_size == 40
    assert cfg.train_cfg.max_epochs == 63
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 3e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0
    assert cfg.train_dataloader.dataset.data_root == 'data/deepfashion2/'
    if size == 512:
        assert cfg.load_from is None
    else:  # fine-tuned from the 512 model of the same architecture
        assert cfg.load_from == 'work_dirs/' + path.name.replace(f'-{size}.py',
                                                                 '-512') + ('/epoch_63.pth')
    if 'dla34' in path.name:
        assert cfg.model.neck.use_dcn is True
        assert cfg.model.data_preprocessor.pad_size_divisor == 32
    elif 'lite' in path.name:  # EfficientNet-Lite0 from its ImageNet weights, its normalisation
        assert cfg.model.backbone.arch == 'tf_efficientnet_lite0'
        assert cfg.model.backbone.pretrained is True and cfg.model.neck.use_dcn is False
    else:
        assert cfg.model.backbone.stage_channels == [256, 256, 384, 384, 384, 512]
        assert cfg.model.backbone.stage_blocks == [2, 2, 2, 2, 2, 4]
        assert cfg.model.backbone.downsample_times == 5 and cfg.model.backbone.num_stacks == 2
    # the paper's model trains through mmdet's standard dense path, nothing CPU-specific
    assert cfg.custom_imports.imports == ['deepmark_mm']
    assert cfg.model.bbox_head.type == 'DeepMarkHead'
    assert cfg.optim_wrapper.type in ('OptimWrapper', 'AmpOptimWrapper')
    assert not [hook for hook in cfg.get('custom_hooks', [])
                if hook['type'] in ('ChannelsLastHook', 'RetainFreedMemoryHook')]
    init_default_scope('mmdet')
    with torch.device('meta'):
        head = MODELS.build(cfg.model.bbox_head)
    assert type(head.loss_center_heatmap).__name__ == 'GaussianFocalLoss'
    assert type(head.loss_kpt_heatmap).__name__ == 'GaussianFocalLoss'
    preprocessor = cfg.model.data_preprocessor
    if 'lite' in path.name:  # TensorFlow's EfficientNet-Lite: (x - 127.5) / 127.5 on RGB
        assert (preprocessor.mean, preprocessor.std) == ([127.5] * 3, [127.5] * 3)
        assert preprocessor.bgr_to_rgb is True
        return
    assert preprocessor.mean == [104.01, 114.03, 119.92]
    assert preprocessor.std == [73.60, 69.89, 70.91]
    assert preprocessor.bgr_to_rgb is False


@pytest.mark.parametrize('alias,target', [
    ('deepmark_hg_512.py', 'deepmark/deepmark_hourglass104_8xb5-63e_deepfashion2-512.py'),
    ('deepmark_dla34_512.py', 'deepmark/deepmark_dla34_8xb5-63e_deepfashion2-512.py'),
])
def test_aliases_equal_their_targets(alias, target):
    assert load(CONFIG_ROOT / alias).to_dict() == load(CONFIG_ROOT / target).to_dict()


def test_data_root_is_overridable():
    cfg = load(CONFIG_ROOT / 'deepmark_dla34_512.py')
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': '/data/df2/',
        'train_dataloader.dataset.ann_file': 'train.json'
    })
    assert cfg.train_dataloader.dataset.data_root == '/data/df2/'
    assert cfg.train_dataloader.dataset.ann_file == 'train.json'


# ------------------------------------------------------------------ forward at small input


def make_sample(side: int, seed: int) -> DetDataSample:
    """One image's packed sample: two garments with their own landmarks inside their boxes."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([seed % 13, (seed + 5) % 13])
    boxes = torch.tensor([[4., 6., side * 0.6, side * 0.7],
                          [side * 0.4, side * 0.3, side - 3., side - 5.]])
    keypoints = torch.zeros(2, NUM_KEYPOINTS, 2)
    visible = torch.zeros(2, NUM_KEYPOINTS)
    for index, label in enumerate(labels.tolist()):
        start, end = KEYPOINT_SLICES[label]
        low, high = boxes[index, :2], boxes[index, 2:]
        keypoints[index, start:end] = low + torch.rand(
            end - start, 2, generator=generator) * (
                high - low)
        visible[index, start:end] = torch.randint(0, 3, (end - start, ), generator=generator)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(side, side),
            ori_shape=(side, side),
            scale_factor=(1., 1.),
            homography_matrix=torch.eye(3).numpy(),
            img_id=seed,
            img_path=f'{seed}.jpg'))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(boxes),
        labels=labels,
        keypoints=keypoints,
        keypoints_visible=visible)
    return sample


SMALL_MODELS = {
    'dla34': ('deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py', dict(neck=dict(use_dcn=False))),
    'dla34-dcn':
    ('deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py', dict(neck=dict(use_dcn=True))),
    'hourglass-tiny': ('deepmark/deepmark_hourglass-tiny_1xb8-12e_synthetic-128.py', {}),
}


@pytest.mark.parametrize('name', list(SMALL_MODELS))
def test_small_model_loss_backward_and_predict(name):
    config, model_options = SMALL_MODELS[name]
    cfg = load(CONFIG_ROOT / config)
    cfg.merge_from_dict(dict(model=model_options))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    side = 64
    generator = torch.Generator().manual_seed(3)
    images = [
        torch.randint(0, 256, (3, side, side), generator=generator, dtype=torch.uint8)
        for _ in range(2)
    ]
    samples = [make_sample(side, seed) for seed in range(2)]

    model.train()
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=True)
    assert data['inputs'].shape == (2, 3, side, side)
    losses = model(**data, mode='loss')
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    first_conv = next(p for n, p in model.backbone.named_parameters() if p.dim() == 4)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    if cfg.model.neck and cfg.model.neck.get('use_dcn'):
        offset = model.neck.ida_up.nodes[0].conv.conv_offset.weight
        assert offset.grad is not None and offset.grad.abs().sum() > 0

    model.eval()
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    max_per_img = cfg.model.test_cfg.max_per_img
    for result in results:
        pred = result.pred_instances
        num = len(pred)
        assert num == max_per_img
        assert pred.bboxes.shape == (num, 4) and pred.keypoints.shape == (num, NUM_KEYPOINTS, 2)
        assert pred.keypoint_scores.shape == (num, NUM_KEYPOINTS)
        assert bool((pred.labels >= 0).all() and (pred.labels < 13).all())
        assert bool((pred.scores[:-1] >= pred.scores[1:]).all())
