# Copyright (c) deepmark_mm contributors. All rights reserved.
"""What every landmark-grouping rule shares: the interface the DeepMark head builds from
``test_cfg.grouping``, its result type, and the candidate tensors of the pure functions.

Shapes: B images, K detections, J landmark slots, P peaks per slot; all coordinates in one frame
(feature pixels in the head).
"""
import copy
from abc import ABCMeta, abstractmethod
from typing import NamedTuple, Optional, Union

import torch
from mmdet.registry import TASK_UTILS
from torch import Tensor


class GroupedLandmarks(NamedTuple):
    """Result of a grouping rule.

    Attributes:
        keypoints (Tensor): (B, K, J, 2) the snapped peak where ``snapped``, else the coarse
            landmark.
        snapped (Tensor): (B, K, J) bool, the landmark took a heatmap peak.
        peak_scores (Tensor): (B, K, J) score of the peak taken, 0 where not snapped.
    """
    keypoints: Tensor
    snapped: Tensor
    peak_scores: Tensor


class _SlotCandidates(NamedTuple):
    """Every masked (image, detection, slot) triple with all the peaks of its slot.

    Only masked triples are kept: N ~ K x (slots per category) rather than K x J, so memory is
    N x P instead of B x J x K x P.
    """
    batch_ids: Tensor  # (N,)
    det_ids: Tensor  # (N,)
    slot_ids: Tensor  # (N,)
    peaks: Tensor  # (N, P, 2)
    peak_scores: Tensor  # (N, P)
    dist: Tensor  # (N, P) coarse landmark to peak distance
    boxes: Tensor  # (N, 4)


def _slot_candidates(coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
                     peak_keypoints: Tensor, peak_scores: Tensor) -> _SlotCandidates:
    batch_ids, det_ids, slot_ids = keypoint_mask.nonzero(as_tuple=True)
    coarse = coarse_keypoints[batch_ids, det_ids, slot_ids]  # (N, 2)
    peaks = peak_keypoints[batch_ids, slot_ids]  # (N, P, 2)
    # per axis: a reduction over the size-2 point axis is slow on the CPU (same values)
    dx, dy = coarse[:, :1] - peaks[..., 0], coarse[:, 1:] - peaks[..., 1]
    dist = (dx * dx).add_(dy * dy).sqrt_()
    return _SlotCandidates(batch_ids, det_ids, slot_ids, peaks, peak_scores[batch_ids, slot_ids],
                           dist, bboxes[batch_ids, det_ids])


def _inside_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """Whether points lie inside boxes (borders included), broadcasting leading dims.

    Args:
        points (Tensor): (..., 2) (x, y).
        boxes (Tensor): (..., 4) xyxy, broadcastable against ``points[..., 0]``.

    Returns:
        Tensor: (...) bool.
    """
    xs, ys = points[..., 0], points[..., 1]
    return (xs >= boxes[..., 0]) & (xs <= boxes[..., 2]) & \
           (ys >= boxes[..., 1]) & (ys <= boxes[..., 3])


def _max_snap_distance(bboxes: Tensor, distance_ratio: float) -> Tensor:
    """``distance_ratio * max(box w, box h)``, (..., 4) -> (...)."""
    size = torch.maximum(bboxes[..., 2] - bboxes[..., 0], bboxes[..., 3] - bboxes[..., 1])
    return distance_ratio * size


def _check_shapes(coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
                  peak_keypoints: Tensor, peak_scores: Tensor) -> None:
    batch_size, num_dets, num_keypoints, _ = coarse_keypoints.shape
    num_peaks = peak_scores.shape[-1]
    expected = dict(
        keypoint_mask=((batch_size, num_dets, num_keypoints), keypoint_mask),
        bboxes=((batch_size, num_dets, 4), bboxes),
        peak_keypoints=((batch_size, num_keypoints, num_peaks, 2), peak_keypoints),
        peak_scores=((batch_size, num_keypoints, num_peaks), peak_scores))
    for name, (shape, tensor) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f'landmark grouping: {name} should be {shape} for coarse_keypoints '
                             f'{tuple(coarse_keypoints.shape)}, got {tuple(tensor.shape)}')


def ungrouped(coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
              peak_keypoints: Tensor, peak_scores: Tensor) -> GroupedLandmarks:
    """Check the shapes of a grouping call and return its starting point: every landmark its
    coarse position, nothing snapped, scores 0 (fresh tensors the rules fill in)."""
    _check_shapes(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)
    return GroupedLandmarks(coarse_keypoints.clone(),
                            torch.zeros_like(keypoint_mask, dtype=torch.bool),
                            coarse_keypoints.new_zeros(keypoint_mask.shape))


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

    def __call__(self,
                 coarse_keypoints: Tensor,
                 keypoint_mask: Tensor,
                 bboxes: Tensor,
                 peak_keypoints: Tensor,
                 peak_scores: Tensor,
                 detection_mask: Optional[Tensor] = None) -> GroupedLandmarks:
        """Group peaks with detections: the rule's :meth:`group` on the slots of the detections
        still alive (the one place where ``detection_mask`` is applied, for every rule).

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
        if detection_mask is not None:
            keypoint_mask = keypoint_mask & detection_mask.unsqueeze(-1)
        return self.group(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)

    @property
    def min_peak_score(self) -> Optional[float]:
        """Peaks scoring below it are never taken, so decoding need not find them (None: every
        peak may be taken). The built-in rules ignore peaks below ``score_thr``; a rule that
        reads them must override this to return None."""
        return self.score_thr if self.score_thr > 0 else None

    @abstractmethod
    def group(self, coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
              peak_keypoints: Tensor, peak_scores: Tensor) -> GroupedLandmarks:
        """The rule's pure function on masked slots; shapes as in :meth:`__call__`."""

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
