# Copyright (c) deepmark_mm contributors. All rights reserved.
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

from deepmark_mm.datasets.deepfashion2_metainfo import (KEYPOINT_SLICES, NUM_CLASSES, PALETTE,
                                                        category_skeletons)
from deepmark_mm.visualization import garment_keypoint_style

CANVAS = 160
RADIUS = 3  # the fixture's kpt_radius


def _isolated(points: np.ndarray,
              keep: np.ndarray,
              others: np.ndarray,
              gap: int = 2 * RADIUS + 2) -> np.ndarray:
    """Points of ``points[keep]`` no other drawn point comes closer to than ``gap`` (the default
    leaves the centre pixel untouched)."""
    distance = np.linalg.norm(points[:, None] - others[None], axis=-1)
    distance[distance == 0] = np.inf
    return keep & (distance.min(axis=1) > gap)


def _gt_sample(instances, shape=(CANVAS, CANVAS), homography=None) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(
            ori_shape=shape,
            img_shape=shape,
            homography_matrix=np.eye(3, dtype=np.float32) if homography is None else homography))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor(np.stack([i['bbox'] for i in instances]))),
        labels=torch.tensor([i['label'] for i in instances]),
        keypoints=torch.tensor(np.stack([i['keypoints'] for i in instances])),
        keypoints_visible=torch.tensor(np.stack([i['keypoints_visible'] for i in instances])))
    return sample


def _pixel(image, xy):
    x, y = np.floor(np.asarray(xy) + 0.5).astype(int)
    return tuple(int(c) for c in image[y, x])


@pytest.mark.parametrize('label', range(NUM_CLASSES))
def test_ground_truth_landmarks_of_every_category_sit_where_they_are(label, visualizer, tmp_path,
                                                                     make_garment):
    instance = make_garment(label, CANVAS)
    out_file = str(tmp_path / f'{label}.png')
    visualizer.add_datasample(
        'gt',
        np.zeros((CANVAS, CANVAS, 3), np.uint8),
        _gt_sample([instance]),
        draw_pred=False,
        out_file=out_file)
    drawing = cv2.imread(out_file)[..., ::-1]  # RGB, lossless
    start, end = KEYPOINT_SLICES[label]
    points = instance['keypoints'][start:end]
    visible = instance['keypoints_visible'][start:end]
    isolated = _isolated(points, visible > 0, points[visible > 0])
    assert isolated.sum() >= 2, 'the fixture garment should have separated landmarks'
    for point, v in zip(points[isolated], visible[isolated]):
        expected = PALETTE[label] if v == 2 else visualizer.low_color
        assert _pixel(drawing, point) == tuple(expected)
    # mmpose's marker: a filled disc in a white ring centred on the rounded landmark
    well_apart = _isolated(points, visible > 0, points[visible > 0], 2 * RADIUS + 4)
    assert well_apart.any()
    for point in points[well_apart]:
        x, y = np.floor(point + 0.5).astype(int)
        window = drawing[y - RADIUS - 1:y + RADIUS + 2, x - RADIUS - 1:x + RADIUS + 2]
        ring_y, ring_x = np.nonzero((window == 255).all(axis=-1))
        assert len(ring_x) >= 8
        assert (ring_x.mean() - RADIUS - 1, ring_y.mean() - RADIUS - 1) == (0, 0)
    # the unlabelled slot (v = 0) is not drawn: its neighbourhood stays black
    x, y = np.round(points[-1]).astype(int)
    assert not drawing[y - RADIUS:y + RADIUS + 1, x - RADIUS:x + RADIUS + 1].any()
    # a skeleton link between two visible landmarks passes its midpoint in the garment colour
    links = [(a - start, b - start) for a, b in category_skeletons()[label]
             if visible[a - start] == 2 and visible[b - start] == 2]
    assert links
    ends = np.floor(points + 0.5)
    midpoints = np.array([(ends[a] + ends[b]) / 2 for a, b in links])
    clear = _isolated(midpoints, np.ones(len(midpoints), bool), points)
    for x, y in np.round(midpoints[clear]).astype(int):
        around = drawing[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)
        assert (around == PALETTE[label]).all(axis=1).any()


def test_predicted_landmarks_are_coloured_by_score(visualizer, tmp_path, make_garment):
    instance = make_garment(1, CANVAS)
    start, end = KEYPOINT_SLICES[1]
    scores = np.zeros(294, np.float32)
    scores[start:end] = np.resize([0.9, 0.1], end - start)
    sample = DetDataSample(metainfo=dict(ori_shape=(CANVAS, CANVAS)))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(instance['bbox'][None]),
        labels=torch.tensor([1]),
        scores=torch.tensor([0.8]),
        keypoints=torch.tensor(instance['keypoints'][None]),
        keypoint_scores=torch.tensor(scores[None]))
    out_file = str(tmp_path / 'pred.png')

    def draw() -> np.ndarray:
        visualizer.add_datasample('pred', np.zeros((CANVAS, CANVAS, 3), np.uint8), sample,
                                  draw_gt=False, out_file=out_file, pred_score_thr=0.5)
        return cv2.imread(out_file)[..., ::-1]

    drawing = draw()
    points = instance['keypoints'][start:end]
    isolated = _isolated(points, np.ones(len(points), bool), points)
    for point, score in zip(points[isolated], scores[start:end][isolated]):
        expected = PALETTE[1] if score >= visualizer.kpt_score_thr else visualizer.low_color
        assert _pixel(drawing, point) == tuple(expected)
    # low-score landmarks can be hidden
    visualizer.draw_low_score_kpts = False
    hidden = draw()
    low = isolated & (scores[start:end] < visualizer.kpt_score_thr)
    assert all(_pixel(hidden, p) != tuple(visualizer.low_color) for p in points[low])


def test_network_input_ground_truth_is_mapped_back_to_the_original_image(
        visualizer, tmp_path, make_garment):
    """The test pipeline packs ground truth in network-input pixels (a centre warp); drawn on the
    original image it must land on the original coordinates."""
    instance = make_garment(7, CANVAS)  # trousers, original pixels of a 160 x 200 image
    scale, shift = 128 / 200, np.array([0.0, (128 - 160 * 128 / 200) / 2])
    homography = np.array([[scale, 0, shift[0]], [0, scale, shift[1]], [0, 0, 1]], np.float32)
    warped = dict(
        instance,
        bbox=np.concatenate(
            [instance['bbox'][:2] * scale + shift, instance['bbox'][2:] * scale + shift]),
        keypoints=instance['keypoints'] * scale + shift)
    sample = _gt_sample([warped], shape=(160, 200), homography=homography)
    sample.set_metainfo(dict(img_shape=(128, 128)))
    out_file = str(tmp_path / 'mapped.png')
    visualizer.add_datasample(
        'gt', np.zeros((160, 200, 3), np.uint8), sample, draw_pred=False, out_file=out_file)
    drawing = cv2.imread(out_file)[..., ::-1]
    start, end = KEYPOINT_SLICES[7]
    points, visible = instance['keypoints'][start:end], instance['keypoints_visible'][start:end]
    isolated = _isolated(points, visible == 2, points[visible > 0])
    assert isolated.any()
    assert {_pixel(drawing, p) for p in points[isolated]} == {tuple(PALETTE[7])}


def test_every_category_in_one_image_through_mmdet_visualization_hook(visualizer, tmp_path,
                                                                      make_garment):
    """tools/test.py --show-dir: DetVisualizationHook draws ground truth | prediction."""
    instances = [make_garment(label, CANVAS) for label in range(NUM_CLASSES)]
    image_path = tmp_path / '000001.png'
    cv2.imwrite(str(image_path), np.zeros((CANVAS, CANVAS, 3), np.uint8))
    sample = _gt_sample(instances)
    sample.set_metainfo(dict(img_path=str(image_path)))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(np.stack([i['bbox'] for i in instances])),
        labels=torch.arange(NUM_CLASSES),
        scores=torch.linspace(0.9, 0.5, NUM_CLASSES),
        keypoints=torch.tensor(np.stack([i['keypoints'] for i in instances])),
        keypoint_scores=torch.tensor(np.stack([i['keypoints_visible'] for i in instances]) / 2))
    hook = DetVisualizationHook(draw=True, test_out_dir='vis')
    assert hook._visualizer is visualizer
    hook.after_test_iter(SimpleNamespace(work_dir=str(tmp_path), timestamp='run'), 0, {}, [sample])
    drawing = cv2.imread(str(tmp_path / 'run' / 'vis' / '000001.png'))
    assert drawing.shape == (CANVAS, 2 * CANVAS, 3)
    assert drawing[:, :CANVAS].any() and drawing[:, CANVAS:].any()


def test_landmark_style_colours_links_and_checks_the_skeleton():
    keypoints = np.zeros((294, 2))
    keypoints[182:190] = np.arange(16).reshape(8, 2)
    visible = np.zeros(294)
    visible[182:190] = [2, 2, 1, 0, 2, 2, 2, 2]
    skeleton = category_skeletons()[8]  # skirt
    style = garment_keypoint_style(
        keypoints, KEYPOINT_SLICES[8], skeleton, (9, 9, 9), (1, 1, 1), visibility=visible)
    np.testing.assert_array_equal(style.drawn, visible[182:190] > 0)
    np.testing.assert_array_equal(style.point_colors[:, 0], [9, 9, 1, 1, 9, 9, 9, 9])
    assert len(style.links) == sum(visible[a] > 0 and visible[b] > 0 for a, b in skeleton)
    both_visible = (visible[182:190][style.links] == 2).all(axis=1)
    np.testing.assert_array_equal(style.link_colors[:, 0], np.where(both_visible, 9, 1))
    with pytest.raises(ValueError, match='leave the category'):
        garment_keypoint_style(keypoints, KEYPOINT_SLICES[8], [(0, 1)], (9, 9, 9), (1, 1, 1))
