# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Per-class soft-NMS merge of several views' detections, landmarks carried with their boxes."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from deepmark_mm.models.test_time_augs import DEFAULT_SOFT_NMS, merge_view_detections


def detections(boxes, scores, labels) -> InstanceData:
    """Detections whose landmarks / landmark scores encode their row (to follow them)."""
    num = len(scores)
    ids = torch.arange(num, dtype=torch.float32) + 100 * torch.tensor(scores)
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.long),
        keypoints=ids.view(-1, 1, 1).expand(num, 3, 2).clone(),
        keypoint_scores=ids.view(-1, 1).expand(num, 3).clone())


def gaussian_decay(iou: float) -> float:
    return math.exp(-iou**2 / DEFAULT_SOFT_NMS['sigma'])


def test_gaussian_soft_nms_per_class_across_views():
    # view 0: a class-1 box; view 1: the same object shifted by 5 px (IoU 50 / 150 = 1/3), the
    # same box again but class 2 (other class: untouched), and a far class-1 box (IoU 0)
    view0 = detections([[0, 0, 10, 10]], [0.9], [1])
    view1 = detections([[5, 0, 15, 10], [0, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.7, 0.6],
                       [1, 2, 1])
    merged = merge_view_detections([view0, view1], DEFAULT_SOFT_NMS, max_per_img=10)
    expected_scores = [0.9, 0.8 * gaussian_decay(1 / 3), 0.7, 0.6]
    order = sorted(range(4), key=lambda i: -expected_scores[i])
    torch.testing.assert_close(merged.scores, torch.tensor([expected_scores[i] for i in order]))
    rows = [view0[0], view1[0], view1[1], view1[2]]
    for out, index in enumerate(order):
        source = rows[index]
        assert torch.equal(merged.bboxes[out], source.bboxes[0])
        assert merged.labels[out] == source.labels[0]
        assert torch.equal(merged.keypoints[out], source.keypoints[0])
        assert torch.equal(merged.keypoint_scores[out], source.keypoint_scores[0])


def test_duplicates_fall_below_min_score_and_max_per_img_cuts():
    # identical boxes: IoU 1 -> decay exp(-2) = 0.135; 0.005 * 0.135 < 0.001 is pruned
    view = detections([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]],
                      [0.9, 0.005, 0.5, 0.4], [0, 0, 0, 0])
    merged = merge_view_detections([view], DEFAULT_SOFT_NMS, max_per_img=10)
    torch.testing.assert_close(merged.scores, torch.tensor([0.9, 0.5, 0.4]))
    top2 = merge_view_detections([view], DEFAULT_SOFT_NMS, max_per_img=2)
    torch.testing.assert_close(top2.scores, torch.tensor([0.9, 0.5]))
    assert torch.equal(top2.keypoints, view.keypoints[[0, 2]])


def test_negative_and_degenerate_boxes():
    """Boxes running off the image stay separated by class; zero-area boxes give no NaN."""
    view = detections([[-40, -30, -10, 0], [-40, -30, -10, 0], [3, 3, 3, 3], [3, 3, 3, 3]],
                      [0.9, 0.8, 0.7, 0.6], [0, 1, 2, 2])
    merged = merge_view_detections([view], DEFAULT_SOFT_NMS, max_per_img=10)
    assert torch.isfinite(merged.scores).all()
    # classes 0 and 1 do not interact; the two equal points of class 2 count as IoU 1
    torch.testing.assert_close(merged.scores,
                               torch.tensor([0.9, 0.8, 0.7, 0.6 * gaussian_decay(1.0)]))


def test_hard_nms_and_plain_sorting():
    view0 = detections([[0, 0, 10, 10]], [0.6], [3])
    view1 = detections([[1, 0, 11, 10], [30, 0, 40, 10]], [0.9, 0.2], [3, 3])
    hard = merge_view_detections([view0, view1], dict(type='nms', iou_threshold=0.5), 10)
    torch.testing.assert_close(hard.scores, torch.tensor([0.9, 0.2]))
    assert torch.equal(hard.bboxes[0], view1.bboxes[0])
    plain = merge_view_detections([view0, view1], None, 2)
    torch.testing.assert_close(plain.scores, torch.tensor([0.9, 0.6]))
    assert torch.equal(plain.keypoints[1], view0.keypoints[0])


def test_bad_inputs():
    with pytest.raises(AssertionError):  # mmengine's InstanceData.cat: one or more views
        merge_view_detections([], DEFAULT_SOFT_NMS)
    partial = InstanceData(
        bboxes=torch.zeros(1, 4), scores=torch.ones(1), labels=torch.zeros(1, dtype=torch.long))
    with pytest.raises(AssertionError, match='different keys'):
        merge_view_detections([detections([[0, 0, 1, 1]], [0.5], [0]), partial])
    with pytest.raises(ValueError, match='not an op of deepmark_mm.ops'):
        merge_view_detections([partial], dict(type='no_such_nms'))
    empty = merge_view_detections([partial[:0], partial[:0]], DEFAULT_SOFT_NMS)
    assert len(empty) == 0
