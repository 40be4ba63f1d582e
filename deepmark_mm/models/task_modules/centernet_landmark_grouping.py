# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's landmark grouping rule (``multi_pose_decode``), the DeepMark default."""
from typing import Optional

from mmdet.registry import TASK_UTILS
from torch import Tensor

from ..utils.landmark_grouping import GroupedLandmarks, group_landmarks_nearest
from .base_landmark_grouping import BaseLandmarkGrouping


@TASK_UTILS.register_module()
class CenterNetLandmarkGrouping(BaseLandmarkGrouping):
    """Each coarse landmark takes the nearest peak of its slot (peaks may be shared).

    The nearest peak scoring at least ``score_thr`` is taken unless it lies outside the
    detection's box or farther than ``distance_ratio * max(box w, box h)``; the coarse landmark is
    kept otherwise. See :func:`group_landmarks_nearest`.
    """

    def __call__(self,
                 coarse_keypoints: Tensor,
                 keypoint_mask: Tensor,
                 bboxes: Tensor,
                 peak_keypoints: Tensor,
                 peak_scores: Tensor,
                 detection_mask: Optional[Tensor] = None) -> GroupedLandmarks:
        if detection_mask is not None:
            keypoint_mask = keypoint_mask & detection_mask.unsqueeze(-1)
        return group_landmarks_nearest(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                                       peak_scores, self.score_thr, self.distance_ratio)
