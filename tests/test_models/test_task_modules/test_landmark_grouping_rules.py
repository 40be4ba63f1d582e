# Copyright (c) deepmark_mm contributors. All rights reserved.
import pytest
import torch
from mmdet.registry import TASK_UTILS

import deepmark_mm  # noqa: F401  (registers the rules)
from deepmark_mm.models.task_modules import (BaseLandmarkGrouping, CenterNetLandmarkGrouping,
                                             ExclusiveLandmarkGrouping)


def _two_detections_one_peak():
    """Two detections whose slot-0 landmarks sit 1.6 and 0.4 from a single peak."""
    return dict(
        coarse_keypoints=torch.tensor([[[[4., 5.]], [[6., 5.]]]]),
        keypoint_mask=torch.ones(1, 2, 1, dtype=torch.bool),
        bboxes=torch.tensor([[[0., 0., 10., 10.], [1., 1., 11., 11.]]]),
        peak_keypoints=torch.tensor([[[[5.6, 5.]]]]),
        peak_scores=torch.tensor([[[0.8]]]))


@pytest.mark.parametrize('type_name, cls',
                         [('CenterNetLandmarkGrouping', CenterNetLandmarkGrouping),
                          ('ExclusiveLandmarkGrouping', ExclusiveLandmarkGrouping)])
def test_rules_build_from_config(type_name, cls):
    rule = TASK_UTILS.build(dict(type=type_name, score_thr=0.2, distance_ratio=0.5))
    assert isinstance(rule, cls) and isinstance(rule, BaseLandmarkGrouping)
    assert (rule.score_thr, rule.distance_ratio) == (0.2, 0.5)
    assert type_name in repr(rule)


def test_centernet_rule_shares_exclusive_rule_does_not():
    shared = CenterNetLandmarkGrouping()(**_two_detections_one_peak())
    assert shared.snapped.tolist() == [[[True], [True]]]
    exclusive = ExclusiveLandmarkGrouping()(**_two_detections_one_peak())
    assert exclusive.snapped.tolist() == [[[False], [True]]]
    torch.testing.assert_close(exclusive.keypoints[0, :, 0], torch.tensor([[4., 5.], [5.6, 5.]]))


@pytest.mark.parametrize('cls', [CenterNetLandmarkGrouping, ExclusiveLandmarkGrouping])
def test_rules_parameters_are_used(cls):
    scene = _two_detections_one_peak()
    assert not cls(score_thr=0.9)(**scene).snapped.any()  # peak scores 0.8
    # the threshold is the least peak score decoding must find; 0: every peak
    assert cls(score_thr=0.8)(**scene).snapped.any() and cls(score_thr=0.8).min_peak_score == 0.8
    assert cls(score_thr=0.).min_peak_score is None
    # 0.4 away from detection 1 (box side 10): refused when the limit is 0.03 * 10 = 0.3
    assert not cls(distance_ratio=0.03)(**scene).snapped.any()
    assert cls(distance_ratio=0.05)(**scene).snapped[0, 1, 0]
    # detections removed upstream (detection_mask) take nothing
    out = cls()(**scene, detection_mask=torch.tensor([[True, False]]))
    assert out.snapped.tolist() == [[[True], [False]]]


def test_rule_rejects_bad_parameters():
    with pytest.raises(ValueError, match='score_thr'):
        CenterNetLandmarkGrouping(score_thr=1.5)
    with pytest.raises(ValueError, match='distance_ratio'):
        ExclusiveLandmarkGrouping(distance_ratio=-1)
