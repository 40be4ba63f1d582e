# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The codec's grouping setting: rule names (older class names too), parameters, detections NMS
removed."""
import pytest
import torch
from mmdet.registry import TASK_UTILS

import deepmark_mm  # noqa: F401  (registers the codec)
from deepmark_mm.models.task_modules import DeepMarkCodec
from deepmark_mm.models.task_modules.keypoint_grouping import GROUPERS


def _two_detections_one_peak():
    """Two detections whose slot-0 landmarks sit 1.6 and 0.4 from a single peak."""
    return dict(
        coarse_keypoints=torch.tensor([[[[4., 5.]], [[6., 5.]]]]),
        keypoint_mask=torch.ones(1, 2, 1, dtype=torch.bool),
        bboxes=torch.tensor([[[0., 0., 10., 10.], [1., 1., 11., 11.]]]),
        peak_keypoints=torch.tensor([[[[5.6, 5.]]]]),
        peak_scores=torch.tensor([[[0.8]]]))


@pytest.mark.parametrize('type_name, rule',
                         [('CenterNetKeypointGrouping', 'nearest'), ('nearest', 'nearest'),
                          ('ExclusiveKeypointGrouping', 'exclusive'), ('exclusive', 'exclusive')])
def test_grouping_setting_from_config(type_name, rule):
    codec = TASK_UTILS.build(dict(type='DeepMarkCodec', grouping=dict(
        type=type_name, score_thr=0.2, distance_ratio=0.5)))
    assert (codec.grouping, codec.score_thr, codec.distance_ratio) == (rule, 0.2, 0.5)
    assert codec.grouping_repr() == f'{rule}(score_thr=0.2, distance_ratio=0.5)'
    assert DeepMarkCodec(grouping=rule).grouping == rule
    assert (DeepMarkCodec().grouping, DeepMarkCodec().score_thr) == ('nearest', 0.1)


def test_nearest_rule_shares_exclusive_rule_does_not():
    shared = GROUPERS['nearest'](**_two_detections_one_peak())
    assert shared.snapped.tolist() == [[[True], [True]]]
    exclusive = GROUPERS['exclusive'](**_two_detections_one_peak())
    assert exclusive.snapped.tolist() == [[[False], [True]]]
    torch.testing.assert_close(exclusive.keypoints[0, :, 0], torch.tensor([[4., 5.], [5.6, 5.]]))


@pytest.mark.parametrize('rule', ['nearest', 'exclusive'])
def test_rules_parameters_are_used(rule):
    scene = _two_detections_one_peak()
    assert not GROUPERS[rule](**scene, score_thr=0.9).snapped.any()  # peak scores 0.8
    assert GROUPERS[rule](**scene, score_thr=0.8).snapped.any()
    # 0.4 away from detection 1 (box side 10): refused when the limit is 0.03 * 10 = 0.3
    assert not GROUPERS[rule](**scene, distance_ratio=0.03).snapped.any()
    assert GROUPERS[rule](**scene, distance_ratio=0.05).snapped[0, 1, 0]
    # detections removed upstream (the codec masks their slots) take nothing
    scene['keypoint_mask'] = torch.tensor([[[True], [False]]])
    assert GROUPERS[rule](**scene).snapped.tolist() == [[[True], [False]]]


def test_rule_rejects_bad_parameters():
    with pytest.raises(ValueError, match='score_thr'):
        DeepMarkCodec(grouping=dict(type='nearest', score_thr=1.5))
    with pytest.raises(ValueError, match='distance_ratio'):
        DeepMarkCodec(grouping=dict(type='ExclusiveKeypointGrouping', distance_ratio=-1))


@pytest.mark.parametrize('old, new', [('CenterNetLandmarkGrouping', 'CenterNetKeypointGrouping'),
                                      ('ExclusiveLandmarkGrouping', 'ExclusiveKeypointGrouping')])
def test_an_old_grouping_name_is_refused_naming_the_new_one(old, new):
    with pytest.raises(ValueError, match=f'grouping {old} is now called {new}'):
        DeepMarkCodec(grouping=dict(type=old))
