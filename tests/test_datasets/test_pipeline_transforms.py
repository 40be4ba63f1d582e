# Copyright (c) deepmark_mm contributors. All rights reserved.
import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from deepmark_mm.datasets import DeepFashion2Dataset
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, flip_indices
from deepmark_mm.datasets.transforms import (CenterAffine, CenterNetColorJitter,
                                             LoadDeepFashion2Annotations, PackDeepMarkInputs,
                                             RandomCenterAffine, center_scale_affine_matrix,
                                             centernet_border, color_jitter_matrix,
                                             resize_paste_warp)
from deepmark_mm.structures import BBoxKeypoints

REPO = Path(__file__).resolve().parents[2]
init_default_scope('mmdet')


def apply_homography(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., 2) points mapped by a (3, 3) homography, float64."""
    points = np.asarray(points, dtype=np.float64)
    mapped = np.concatenate([points, np.ones(points.shape[:-1] + (1, ))], -1) @ matrix.T
    return mapped[..., :2] / mapped[..., 2:3]


_DATASETS = {}


def loaded_sample(root: Path, index: int = 0, split: str = 'train') -> dict:
    """A dataset sample after LoadImageFromFile + LoadDeepFashion2Annotations."""
    if (root, split) not in _DATASETS:
        _DATASETS[root, split] = DeepFashion2Dataset(
            data_root=str(root), ann_file=f'{split}/deepfashion2_{split}.json',
            data_prefix=dict(img=f'{split}/image/'), test_mode=True, serialize_data=False)
    results = _DATASETS[root, split].get_data_info(index)
    results['img'] = cv2.imread(results['img_path'])
    results['img_shape'] = results['ori_shape'] = results['img'].shape[:2]
    return LoadDeepFashion2Annotations()(results)


def sample_with_instances(root: Path, minimum: int = 2) -> dict:
    for index in range(16):
        results = loaded_sample(root, index)
        if len(results['gt_bboxes']) >= minimum:
            return results
    raise AssertionError('no synthetic image with enough garments')


def test_load_annotations_builds_bbox_keypoints(synthetic_root):
    results = sample_with_instances(synthetic_root)
    boxes = results['gt_bboxes']
    assert isinstance(boxes, BBoxKeypoints)
    instances = results['instances']
    np.testing.assert_allclose(boxes.tensor.numpy(), [i['bbox'] for i in instances])
    np.testing.assert_array_equal(boxes.keypoints_visible.numpy(),
                                  [i['keypoints_visible'] for i in instances])
    np.testing.assert_array_equal(results['gt_bboxes_labels'], [i['bbox_label'] for i in instances])
    assert results['gt_ignore_flags'].dtype == bool and not results['gt_ignore_flags'].any()


def test_affine_warp_and_its_inverse_map_landmarks_back(synthetic_root):
    np.random.seed(3)
    checked = left = 0
    for index in range(8):
        original = loaded_sample(synthetic_root, index)
        # carry each instance's row number as its label to follow it through the warp
        original['gt_bboxes_labels'] = np.arange(len(original['gt_bboxes']))
        warped = RandomCenterAffine(input_size=64, border=32)(copy.deepcopy(original))
        matrix = warped['homography_matrix']
        assert matrix.shape == (3, 3) and matrix.dtype == np.float32
        assert warped['img'].shape == (64, 64, 3)
        boxes = warped['gt_bboxes']
        assert len(boxes) == len(warped['gt_bboxes_labels']) == len(warped['gt_ignore_flags'])
        for row, source in enumerate(warped['gt_bboxes_labels']):
            labelled = boxes.keypoints_visible[row] > 0
            back = apply_homography(boxes.keypoints[row][labelled].numpy(), np.linalg.inv(matrix))
            expected = original['gt_bboxes'].keypoints[source][labelled].numpy()
            np.testing.assert_allclose(back, expected, atol=1e-3, rtol=0)
            checked += int(labelled.sum())
            # landmarks that left the input became unlabelled, the others kept their visibility
            before = original['gt_bboxes']
            moved = apply_homography(before.keypoints[source].numpy(), matrix)
            clear = ((moved > 1e-3) & (moved < 64 - 1e-3)).all(1)
            outside = ((moved < -1e-3) | (moved > 64 + 1e-3)).any(1)
            was_labelled = (before.keypoints_visible[source] > 0).numpy()
            assert (labelled.numpy()[clear & was_labelled]).all()
            assert not labelled.numpy()[outside].any()
            left += int((outside & was_labelled).sum())
            np.testing.assert_array_equal(boxes.keypoints_visible[row][labelled],
                                          before.keypoints_visible[source][labelled])
        assert (warped['gt_bboxes'].tensor >= 0).all() and (warped['gt_bboxes'].tensor <= 64).all()
    assert checked > 50 and left > 0


def test_affine_drops_collapsed_instances_in_sync():
    keypoints = np.zeros((3, 294, 2), dtype=np.float32)
    visible = np.zeros((3, 294), dtype=np.int64)
    for row, (x, y) in enumerate([(20, 20), (150, 150), (60, 60)]):
        keypoints[row, 0] = (x, y)
        visible[row, 0] = 2
    boxes = BBoxKeypoints([[10, 10, 30, 30], [140, 140, 160, 160], [50, 50, 70, 70]],
                          keypoints=keypoints, keypoints_visible=visible,
                          flip_indices=flip_indices())
    results = dict(img=np.zeros((100, 100, 3), np.uint8), gt_bboxes=boxes,
                   gt_bboxes_labels=np.array([0, 1, 2]), gt_ignore_flags=np.array([0, 0, 1], bool))
    out = CenterAffine(input_size=(200, 200))(results)  # scale 2, image fills the input
    assert out['gt_bboxes_labels'].tolist() == [0, 2]
    assert out['gt_ignore_flags'].tolist() == [False, True]
    np.testing.assert_allclose(out['gt_bboxes'].keypoints[:, 0].numpy(), [[40, 40], [120, 120]])
    np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                               [[20, 20, 60, 60], [100, 100, 140, 140]])


def test_test_mode_affine_is_deterministic_and_matches_pixels():
    img = np.zeros((60, 100, 3), np.uint8)
    img[20:30, 70:80] = 255  # a bright square: pixels x in [70, 80), y in [20, 30)
    boxes = BBoxKeypoints([[70., 20., 80., 30.]], keypoints=np.zeros((1, 294, 2)),
                          keypoints_visible=np.zeros((1, 294)), flip_indices=flip_indices())
    transform = CenterAffine(input_size=200, border_value=(1, 2, 3))
    out = transform(dict(img=img.copy(), gt_bboxes=boxes))
    again = transform(dict(img=img.copy()))
    np.testing.assert_array_equal(out['homography_matrix'], again['homography_matrix'])
    assert out['img'][0, 0].tolist() == [1, 2, 3] and out['img'][100, 100].tolist() == [0, 0, 0]
    # scale = max(h, w) = 100 -> ratio 2; centre (50, 30) -> (100, 100)
    np.testing.assert_allclose(out['homography_matrix'],
                               [[2, 0, 0], [0, 2, 40], [0, 0, 1]], atol=1e-6)
    rows, cols = np.nonzero(out['img'][..., 0] == 255)
    x1, y1, x2, y2 = out['gt_bboxes'].tensor[0].tolist()
    assert (x1, y1, x2, y2) == (140.0, 80.0, 160.0, 100.0)
    assert abs(cols.min() - x1) <= 1 and abs(cols.max() + 1 - x2) <= 1
    assert abs(rows.min() - y1) <= 1 and abs(rows.max() + 1 - y2) <= 1


@pytest.mark.parametrize('center, scale', [((48., 40.), 96.), ((20., 70.), 60.),
                                           ((60., 30.), 130.)])
def test_resize_paste_warp_matches_warp_affine_of_the_recorded_map(center, scale):
    img = np.random.default_rng(0).integers(0, 256, size=(80, 96, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 2)  # smooth, so both samplers agree closely
    requested = center_scale_affine_matrix(center, scale, (64, 64))
    out, actual = resize_paste_warp(img, requested, (64, 64))
    assert np.abs(actual - requested).max() < 1.0
    assert abs(actual[0, 0] / requested[0, 0] - 1) < 0.02
    half = np.array([[1., 0., 0.5], [0., 1., 0.5], [0., 0., 1.]])  # continuous -> pixel index
    reference = cv2.warpAffine(img, (np.linalg.inv(half) @ actual @ half)[:2], (64, 64),
                               flags=cv2.INTER_LINEAR)
    (x0, y0), (x1, y1) = apply_homography(np.array([[0., 0.], [96., 80.]]), actual)
    inner = np.zeros((64, 64), bool)  # output pixels well inside the warped image
    inner[max(int(y0) + 2, 0):min(int(y1) - 1, 64), max(int(x0) + 2, 0):min(int(x1) - 1, 64)] = 1
    outer = np.ones((64, 64), bool)  # output pixels clearly outside it
    outer[max(int(y0) - 1, 0):int(np.ceil(y1)) + 1, max(int(x0) - 1, 0):int(np.ceil(x1)) + 1] = 0
    diff = np.abs(out.astype(int) - reference.astype(int))[inner]
    assert diff.size > 500 and diff.mean() < 1.0 and diff.max() <= 3
    assert (out[outer] == 0).all()


def test_centernet_border_rule():
    assert centernet_border(128, 800) == 128
    assert centernet_border(128, 200) == 64
    assert centernet_border(128, 128) == 32


def test_stock_random_flip_moves_left_sleeve_to_right_sleeve_slot():
    start, _ = KEYPOINT_SLICES[0]
    keypoints = np.zeros((1, 294, 2), dtype=np.float32)
    visible = np.zeros((1, 294), dtype=np.int64)
    keypoints[0, start + 8] = (25., 40.)  # short sleeve top, left sleeve end (local 9)
    visible[0, start + 8] = 1
    results = dict(img=np.zeros((80, 120, 3), np.uint8), img_shape=(80, 120),
                   gt_bboxes=BBoxKeypoints([[10., 10., 70., 75.]], keypoints=keypoints,
                                           keypoints_visible=visible, flip_indices=flip_indices()),
                   gt_bboxes_labels=np.array([0]))
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    out = flip(results)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    boxes = out['gt_bboxes']
    assert boxes.keypoints[0, start + 22].tolist() == [95.0, 40.0]  # local 23, right sleeve end
    assert boxes.keypoints_visible[0, start + 22] == 1 and boxes.keypoints_visible[0, 8] == 0
    assert boxes.tensor.tolist() == [[50.0, 10.0, 110.0, 75.0]]
    np.testing.assert_allclose(out['homography_matrix'], [[-1, 0, 120], [0, 1, 0], [0, 0, 1]])


def test_stock_resize_scales_landmarks(synthetic_root):
    results = sample_with_instances(synthetic_root)
    before = results['gt_bboxes'].clone()
    resize = TRANSFORMS.build(dict(type='Resize', scale=(192, 144), keep_ratio=False))
    out = resize(results)
    assert out['img'].shape[:2] == (144, 192)
    sx, sy = out['scale_factor']
    assert (sx, sy) == (2.0, 1.5)
    torch.testing.assert_close(out['gt_bboxes'].keypoints,
                               before.keypoints * torch.tensor([sx, sy], dtype=torch.float32))
    assert torch.equal(out['gt_bboxes'].keypoints_visible, before.keypoints_visible)


def test_flipped_synthetic_annotations_keep_left_slots_on_the_left(synthetic_root):
    """Flipping image + annotations yields a valid sample: pair members stay on their sides."""
    flip = flip_indices()
    checked = 0
    for index in range(8):
        results = loaded_sample(synthetic_root, index)
        flipped = results['gt_bboxes'].clone()
        flipped.flip_(results['img_shape'], 'horizontal')
        for boxes in (results['gt_bboxes'], flipped):
            for row in range(len(boxes)):
                labelled = boxes.keypoints_visible[row] > 0
                x = boxes.keypoints[row, :, 0]
                for a in range(294):
                    b = int(flip[a])
                    if a < b and labelled[a] and labelled[b] and abs(x[a] - x[b]) > 6:
                        assert x[a] < x[b]
                        checked += 1
    assert checked > 100


def test_stock_random_crop_keeps_landmarks_in_sync(synthetic_root):
    np.random.seed(0)
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(40, 40), allow_negative_crop=True))
    dropped = 0
    for index in range(8):
        results = loaded_sample(synthetic_root, index)
        results['gt_bboxes_labels'] = np.arange(len(results['gt_bboxes']))
        before = results['gt_bboxes'].clone()
        out = crop(copy.deepcopy(results))
        offset = -out['homography_matrix'][:2, 2]
        boxes = out['gt_bboxes']
        assert len(boxes) == len(out['gt_bboxes_labels']) == len(out['gt_ignore_flags'])
        dropped += len(before) - len(boxes)
        for row, source in enumerate(out['gt_bboxes_labels']):
            labelled = boxes.keypoints_visible[row] > 0
            kpts = boxes.keypoints[row][labelled].numpy()
            assert ((kpts >= 0) & (kpts <= 40)).all()
            np.testing.assert_allclose(kpts, before.keypoints[source][labelled].numpy() - offset)
            moved = before.keypoints[source].numpy() - offset
            inside = ((moved >= 0) & (moved <= 40)).all(axis=1)
            np.testing.assert_array_equal(
                labelled.numpy(), inside & (before.keypoints_visible[source] > 0).numpy())
    assert dropped > 0


def test_pack_inputs_follows_the_contract(synthetic_root):
    results = sample_with_instances(synthetic_root)
    results = CenterAffine(input_size=64)(results)
    results['gt_ignore_flags'][0] = True
    packed = PackDeepMarkInputs()(results)
    assert packed['inputs'].shape == (3, 64, 64) and packed['inputs'].dtype == torch.uint8
    sample = packed['data_samples']
    gt, ignored = sample.gt_instances, sample.ignored_instances
    num = len(results['gt_bboxes'])
    assert len(gt) == num - 1 and len(ignored) == 1
    assert isinstance(gt.bboxes, HorizontalBoxes) and type(gt.bboxes) is HorizontalBoxes
    assert gt.labels.dtype == torch.int64
    assert gt.keypoints.shape == (num - 1, 294, 2) and gt.keypoints.dtype == torch.float32
    assert gt.keypoints_visible.dtype == torch.float32
    assert set(gt.keypoints_visible.unique().tolist()) <= {0.0, 1.0, 2.0}
    torch.testing.assert_close(gt.keypoints, results['gt_bboxes'].keypoints[1:])
    for key in ('img_id', 'img_path', 'ori_shape', 'img_shape', 'homography_matrix', 'instances'):
        assert key in sample.metainfo
    assert sample.flip is False and sample.img_shape == (64, 64)


def test_color_jitter_matrix_equals_sequential_operations():
    rng = np.random.default_rng(0)
    img = rng.uniform(60, 190, size=(16, 16, 3))
    factors = dict(brightness=1.2, contrast=0.7, saturation=1.3)
    shift = np.array([3.0, -2.0, 1.0])
    weights = np.array([0.114, 0.587, 0.299])
    for order in (['brightness', 'contrast', 'saturation'], ['saturation', 'brightness',
                                                             'contrast']):
        expected = img.copy()
        for name in order:
            gray = expected @ weights
            if name == 'brightness':
                expected = expected * factors[name]
            elif name == 'contrast':
                expected = expected * factors[name] + (1 - factors[name]) * gray.mean()
            else:
                expected = expected * factors[name] + (1 - factors[name]) * gray[..., None]
        expected = expected + shift
        matrix = color_jitter_matrix(img.reshape(-1, 3).mean(0), factors, order, shift)
        got = img @ matrix[:, :3].T + matrix[:, 3]
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_color_jitter_transform_keeps_uint8_and_changes_colours():
    np.random.seed(1)
    img = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    out = CenterNetColorJitter()(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.shape == img.shape and not np.array_equal(out, img)
    same = CenterNetColorJitter(prob=0.0)(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(same, img)


@pytest.mark.parametrize('config', ['synthetic_deepfashion2.py', 'deepfashion2.py'])
def test_base_config_pipelines_run(config, synthetic_root):
    cfg = Config.fromfile(str(REPO / 'configs' / '_base_' / 'datasets' / config))
    assert cfg.val_evaluator.type == 'DeepFashion2Metric'
    size = cfg.input_size
    for pipeline_cfg in (cfg.train_pipeline, cfg.test_pipeline):
        pipeline = Compose(pipeline_cfg)
        dataset = DeepFashion2Dataset(
            data_root=str(synthetic_root), ann_file='train/deepfashion2_train.json',
            data_prefix=dict(img='train/image/'), pipeline=pipeline_cfg, serialize_data=False)
        packed = dataset[0]
        assert packed['inputs'].shape == (3, size, size)
        boxes = packed['data_samples'].gt_instances.bboxes.tensor
        assert ((boxes >= 0) & (boxes <= size)).all()
        assert pipeline is not None
