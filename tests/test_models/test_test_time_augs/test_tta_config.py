# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``tta_config``: TestTimeAug pipelines made from a test pipeline, and ``tools/test.py --tta``."""
import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import deepmark_mm  # noqa: F401
from make_synthetic_deepfashion2 import coco_file_name, make_synthetic_deepfashion2
from deepmark_mm.models.test_time_augs import (DEFAULT_TTA_MODEL, resolve_tta_config,
                                               tta_pipeline_from_test_pipeline)

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / 'configs' / 'deepmark'
DEMO_CONFIG = CONFIG_DIR / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'
SYNTHETIC_DLA = CONFIG_DIR / 'deepmark_dla34_1xb8-12e_synthetic-128.py'
FLIP_CONFIG = CONFIG_DIR / 'deepmark_dla34_1xb8-12e_synthetic-128_flip.py'


def _plain(value):
    """ConfigDicts, lists and tuples as plain dicts / lists, to compare structures exactly."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _test_pipeline(cfg: Config) -> list:
    return _plain(cfg.test_dataloader.dataset.pipeline)


def _load_test_tool():
    spec = importlib.util.spec_from_file_location('deepmark_tools_test_for_tta_config',
                                                  REPO / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def demo_cfg() -> Config:
    return Config.fromfile(str(DEMO_CONFIG))


def test_demo_config_test_pipeline_is_what_the_expectations_assume(demo_cfg):
    load_image, load_annotations, warp, pack = _test_pipeline(demo_cfg)
    assert load_image['type'] == 'LoadImageFromFile'
    assert load_annotations['type'] == 'LoadDeepFashion2Annotations'
    assert warp == dict(type='CenterAffine', input_size=128)
    assert pack['type'] == 'PackDeepMarkInputs'
    assert demo_cfg.input_size == 128
    assert 'tta_model' not in demo_cfg and 'tta_pipeline' not in demo_cfg


@pytest.mark.parametrize('scales, view_sizes', [([1.0], [(128, 128)]),
                                                ([1.0, 0.75], [(128, 128), (96, 96)])])
def test_pipeline_has_one_center_affine_view_per_scale(demo_cfg, scales, view_sizes):
    test_pipeline = _test_pipeline(demo_cfg)
    untouched = copy.deepcopy(test_pipeline)
    load_image, load_annotations, _, pack = test_pipeline

    tta_pipeline = tta_pipeline_from_test_pipeline(demo_cfg.test_dataloader.dataset.pipeline,
                                                   scales)

    assert _plain(tta_pipeline) == [
        load_image,
        load_annotations,
        dict(
            type='TestTimeAug',
            transforms=[
                [dict(type='CenterAffine', input_size=list(size)) for size in view_sizes],
                [pack],
            ]),
    ]
    assert _test_pipeline(demo_cfg) == untouched  # the config's own pipeline is not modified
    tta_pipeline[-1]['transforms'][0][0]['input_size'] = (1, 1)
    assert _test_pipeline(demo_cfg) == untouched  # nor shared with the result


def test_view_sizes_follow_each_side_and_the_512_default():
    pack = dict(type='PackDeepMarkInputs')
    rectangular = tta_pipeline_from_test_pipeline(
        [dict(type='CenterAffine', input_size=(128, 96), border_value=5), pack], [1.0, 0.5, 0.75])
    assert rectangular == [
        dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='CenterAffine', input_size=(128, 96), border_value=5),
                dict(type='CenterAffine', input_size=(64, 48), border_value=5),
                dict(type='CenterAffine', input_size=(96, 72), border_value=5),
            ], [pack]])
    ]
    default_size = tta_pipeline_from_test_pipeline([dict(type='CenterAffine'), pack], [0.75])
    assert default_size[0]['transforms'][0] == [dict(type='CenterAffine', input_size=(384, 384))]


def test_steps_around_the_warp_keep_their_place():
    steps = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomFlip', prob=1.0),
        dict(type='CenterAffine', input_size=64),
        dict(type='CenterNetColorJitter'),
        dict(type='PackDeepMarkInputs'),
    ]
    assert tta_pipeline_from_test_pipeline(steps, [1.0, 0.5]) == [
        steps[0],
        dict(
            type='TestTimeAug',
            transforms=[
                [steps[1]],
                [
                    dict(type='CenterAffine', input_size=(64, 64)),
                    dict(type='CenterAffine', input_size=(32, 32)),
                ],
                [steps[3]],
                [steps[4]],
            ]),
    ]


def test_without_center_affine_only_one_scale_is_possible():
    steps = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 64)),
        dict(type='PackDeepMarkInputs')
    ]
    one_view = tta_pipeline_from_test_pipeline(steps, [1.0])
    assert one_view == [steps[0], dict(type='TestTimeAug', transforms=[[steps[1]], [steps[2]]])]
    with pytest.raises(ValueError, match=r'tta_scales=\[1.0, 0.75\].*CenterAffine'):
        tta_pipeline_from_test_pipeline(steps, [1.0, 0.75])
    with pytest.raises(ValueError, match='CenterAffine'):
        tta_pipeline_from_test_pipeline(steps, [0.5])


def test_resolve_defaults_for_a_config_without_tta(demo_cfg):
    cfg = copy.deepcopy(demo_cfg)
    tta_model, tta_pipeline = resolve_tta_config(cfg)
    assert tta_model == dict(type='DeepMarkTTAModel', flip=True)
    tta_model['flip'] = False
    assert DEFAULT_TTA_MODEL == dict(type='DeepMarkTTAModel', flip=True)  # a copy was returned
    assert tta_pipeline == tta_pipeline_from_test_pipeline(cfg.test_dataloader.dataset.pipeline)
    assert tta_pipeline[-1]['transforms'][0] == [dict(type='CenterAffine', input_size=(128, 128))]

    cfg.tta_scales = [1.0, 0.75]
    _, two_views = resolve_tta_config(cfg)
    assert [view['input_size'] for view in two_views[-1]['transforms'][0]] == [(128, 128), (96, 96)]


def test_resolve_finds_the_pipeline_inside_dataset_wrappers(demo_cfg):
    inner = copy.deepcopy(demo_cfg.test_dataloader.dataset)
    cfg = Config(
        dict(
            tta_scales=[0.5],
            test_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(type='ClassBalancedDataset', oversample_thr=0.1, dataset=inner)))))
    _, tta_pipeline = resolve_tta_config(cfg)
    assert tta_pipeline[-1]['transforms'][0] == [dict(type='CenterAffine', input_size=(64, 64))]


def test_resolve_keeps_a_config_s_own_tta_model_and_pipeline():
    flip_cfg = Config.fromfile(str(FLIP_CONFIG))
    tta_model, tta_pipeline = resolve_tta_config(flip_cfg)
    assert _plain(tta_model) == dict(type='DeepMarkTTAModel', flip=True)
    assert 'tta_pipeline' not in flip_cfg  # made from the test pipeline
    assert [view['input_size'] for view in tta_pipeline[-1]['transforms'][0]] == [(128, 128)]

    hand_made = Config(
        dict(
            tta_model=dict(type='DeepMarkTTAModel', flip=False, nms=True),
            tta_pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='TestTimeAug', transforms=[[dict(type='Resize')]])
            ],
            tta_scales=[1.0, 0.75],  # ignored: the config's own pipeline wins
            test_dataloader=dict(dataset=dict(pipeline=[dict(type='Resize')]))))
    tta_model, tta_pipeline = resolve_tta_config(hand_made)
    assert tta_model == dict(type='DeepMarkTTAModel', flip=False, nms=True)
    assert _plain(tta_pipeline) == _plain(hand_made.tta_pipeline)


def test_pipeline_builds_and_makes_both_views_of_a_synthetic_image(tmp_path, demo_cfg):
    make_synthetic_deepfashion2(str(tmp_path), num_train=0, num_val=1)
    init_default_scope('mmdet')
    tta_pipeline = tta_pipeline_from_test_pipeline(demo_cfg.test_dataloader.dataset.pipeline,
                                                   [1.0, 0.75])
    dataset = DATASETS.build(
        dict(
            type='DeepFashion2Dataset',
            data_root=str(tmp_path),
            ann_file=coco_file_name('validation'),
            data_prefix=dict(img='validation/image/'),
            test_mode=True,
            pipeline=[]))
    assert len(dataset) == 1

    packed = Compose(tta_pipeline)(dataset.get_data_info(0))

    assert [tuple(image.shape) for image in packed['inputs']] == [(3, 128, 128), (3, 96, 96)]
    assert all(image.dtype == torch.uint8 for image in packed['inputs'])
    full, small = packed['data_samples']
    assert (full.img_shape, small.img_shape) == ((128, 128), (96, 96))
    assert full.ori_shape == small.ori_shape == (128, 128)
    assert full.img_id == small.img_id
    for full_instance, small_instance in zip(full.instances, small.instances, strict=True):
        for key in ('bbox', 'keypoints', 'keypoints_visible'):  # original pixels in both views
            np.testing.assert_array_equal(small_instance[key], full_instance[key])
    # the 128-px image fits the 128 view as is and the 96 view scaled by 0.75
    np.testing.assert_allclose(full.homography_matrix, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(small.homography_matrix, np.diag([0.75, 0.75, 1.0]), atol=1e-6)
    num_garments = len(full.instances)
    assert num_garments >= 1
    assert len(full.gt_instances) == len(small.gt_instances) == num_garments
    torch.testing.assert_close(small.gt_instances.bboxes.tensor,
                               full.gt_instances.bboxes.tensor * 0.75)
    torch.testing.assert_close(small.gt_instances.keypoints, full.gt_instances.keypoints * 0.75)
    assert torch.equal(small.gt_instances.keypoints_visible, full.gt_instances.keypoints_visible)


def test_enable_tta_wraps_the_model_and_switches_the_test_pipeline(demo_cfg):
    enable_tta = _load_test_tool().enable_tta
    cfg = copy.deepcopy(demo_cfg)
    cfg.tta_scales = [1.0, 0.75]
    original_model = _plain(cfg.model)
    original_test_pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    val_pipeline = _plain(cfg.val_dataloader.dataset.pipeline)

    enable_tta(cfg)

    assert cfg.model.type == 'DeepMarkTTAModel' and cfg.model.flip is True
    assert set(cfg.model) == {'type', 'flip', 'module'}
    assert _plain(cfg.model.module) == original_model
    assert _plain(cfg.test_dataloader.dataset.pipeline) == _plain(
        tta_pipeline_from_test_pipeline(original_test_pipeline, [1.0, 0.75]))
    assert _plain(cfg.val_dataloader.dataset.pipeline) == val_pipeline


def test_enable_tta_uses_the_config_s_own_pieces():
    enable_tta = _load_test_tool().enable_tta
    cfg = Config.fromfile(str(SYNTHETIC_DLA))
    own_model = dict(type='DeepMarkTTAModel', flip=False, nms=True)
    own_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='TestTimeAug', transforms=[[dict(type='CenterAffine', input_size=64)],
                                             [dict(type='PackDeepMarkInputs')]])
    ]
    cfg.merge_from_dict(dict(tta_model=own_model, tta_pipeline=own_pipeline))
    original_model = _plain(cfg.model)

    enable_tta(cfg)

    assert _plain(cfg.model) == dict(own_model, module=original_model)
    assert _plain(cfg.test_dataloader.dataset.pipeline) == _plain(own_pipeline)


def test_enable_tta_refuses_a_model_that_already_runs_tta():
    enable_tta = _load_test_tool().enable_tta
    cfg = Config.fromfile(str(FLIP_CONFIG))
    enable_tta(cfg)
    assert cfg.model.type == 'DeepMarkTTAModel'
    model_before = _plain(cfg.model)
    with pytest.raises(RuntimeError, match='already runs test-time augmentation'):
        enable_tta(cfg)
    assert _plain(cfg.model) == model_before
