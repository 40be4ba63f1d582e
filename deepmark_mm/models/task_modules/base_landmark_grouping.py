# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Interface of the landmark-grouping rules the DeepMark head builds from ``test_cfg.grouping``."""
import copy
from abc import ABCMeta, abstractmethod
from typing import Optional, Union

from mmdet.registry import TASK_UTILS
from torch import Tensor

from ..utils.landmark_grouping import GroupedLandmarks


class BaseLandmarkGrouping(metaclass=ABCMeta):
    """Decides which heatmap peak, if any, replaces each regressed (coarse) landmark.

    Subclasses are registered in mmdet's ``TASK_UTILS`` and built from a config such as
    ``dict(type='CenterNetLandmarkGrouping', score_thr=0.1, distance_ratio=0.3)``. Shapes: B
    images, K detections, J landmark slots, P peaks per slot, coordinates in one frame.

    Args:
        score_thr (float): Peaks scoring below it are never taken. Defaults to 0.1.
        distance_ratio (float): Maximum snap distance as a fraction of the detection box's longer
            side. Defaults to 0.3.
    """

    def __init__(self, score_thr: float = 0.1, distance_ratio: float = 0.3) -> None:
        if not 0 <= score_thr <= 1 or distance_ratio < 0:
            raise ValueError(f'{type(self).__name__}: score_thr must lie in [0, 1] and '
                             f'distance_ratio be >= 0, got {score_thr}, {distance_ratio}')
        self.score_thr = float(score_thr)
        self.distance_ratio = float(distance_ratio)

    @abstractmethod
    def __call__(self,
                 coarse_keypoints: Tensor,
                 keypoint_mask: Tensor,
                 bboxes: Tensor,
                 peak_keypoints: Tensor,
                 peak_scores: Tensor,
                 detection_mask: Optional[Tensor] = None) -> GroupedLandmarks:
        """Group peaks with detections.

        Args:
            coarse_keypoints (Tensor): (B, K, J, 2) regressed landmarks.
            keypoint_mask (Tensor): (B, K, J) bool, the slots each detection owns.
            bboxes (Tensor): (B, K, 4) xyxy detection boxes.
            peak_keypoints (Tensor): (B, J, P, 2) heatmap peaks.
            peak_scores (Tensor): (B, J, P) peak scores (probabilities).
            detection_mask (Tensor, optional): (B, K) bool, detections still alive (e.g. after
                NMS); the others take no peak. All when None.

        Returns:
            GroupedLandmarks: keypoints (B, K, J, 2), snapped (B, K, J), peak_scores (B, K, J).
        """

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(score_thr={self.score_thr}, '
                f'distance_ratio={self.distance_ratio})')


def build_grouping(grouping: Union[None, dict, BaseLandmarkGrouping]) -> BaseLandmarkGrouping:
    """A grouping rule from its config (``TASK_UTILS``), an instance, or None (the default
    ``CenterNetLandmarkGrouping``).

    Raises:
        TypeError: If the result is not callable.
    """
    if grouping is None:
        grouping = dict(type='CenterNetLandmarkGrouping')
    if not isinstance(grouping, BaseLandmarkGrouping):
        grouping = TASK_UTILS.build(copy.deepcopy(grouping))
    if not callable(grouping):
        raise TypeError(f'DeepMarkHead: grouping must be callable, got {grouping!r}')
    return grouping
