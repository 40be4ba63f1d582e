# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Exclusive landmark grouping: a heatmap peak serves at most one detection."""
from typing import Optional

from mmdet.registry import TASK_UTILS
from torch import Tensor

from ..utils.landmark_grouping import GroupedLandmarks, group_landmarks_exclusive
from .base_landmark_grouping import BaseLandmarkGrouping


@TASK_UTILS.register_module()
class ExclusiveLandmarkGrouping(BaseLandmarkGrouping):
    """Peaks are matched one-to-one with detections, nearest (detection, peak) pairs first.

    Candidate pairs obey the CenterNet constraints (score >= ``score_thr``, peak inside the box,
    within ``distance_ratio * max(box w, box h)``); a detection that loses its nearest peak to a
    closer detection may take its next free candidate. See :func:`group_landmarks_exclusive`.
    """

    def __call__(self,
                 coarse_keypoints: Tensor,
                 keypoint_mask: Tensor,
                 bboxes: Tensor,
                 peak_keypoints: Tensor,
                 peak_scores: Tensor,
                 detection_mask: Optional[Tensor] = None) -> GroupedLandmarks:
        return group_landmarks_exclusive(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                                         peak_scores, self.score_thr, self.distance_ratio,
                                         detection_mask)
