# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's landmark grouping rule (``multi_pose_decode``), the DeepMark default."""
import torch
from mmdet.registry import TASK_UTILS
from torch import Tensor

from .base import (BaseLandmarkGrouping, GroupedLandmarks, _inside_boxes, _max_snap_distance,
                   _slot_candidates, ungrouped)


def group_landmarks_nearest(coarse_keypoints: Tensor,
                            keypoint_mask: Tensor,
                            bboxes: Tensor,
                            peak_keypoints: Tensor,
                            peak_scores: Tensor,
                            score_thr: float = 0.1,
                            distance_ratio: float = 0.3) -> GroupedLandmarks:
    """CenterNet ``multi_pose_decode`` grouping: snap to the nearest peak of the same slot.

    Peaks scoring below ``score_thr`` are ignored. Each masked coarse landmark finds its nearest
    valid peak and takes it unless that peak lies outside the detection's box or is farther
    than ``distance_ratio * max(box w, box h)``; then the coarse landmark is kept (the next
    nearest peak is not tried). A peak may serve several detections.

    Args:
        coarse_keypoints (Tensor): (B, K, J, 2) regressed landmarks.
        keypoint_mask (Tensor): (B, K, J) bool, slots to group (the detection's own slots).
        bboxes (Tensor): (B, K, 4) xyxy detection boxes.
        peak_keypoints (Tensor): (B, J, P, 2) heatmap peaks.
        peak_scores (Tensor): (B, J, P) their scores.
        score_thr (float): Minimum peak score. Defaults to 0.1.
        distance_ratio (float): Maximum snap distance relative to the box's longer side.
            Defaults to 0.3.

    Returns:
        GroupedLandmarks: (B, K, J) results.
    """
    keypoints, snapped, scores = ungrouped(coarse_keypoints, keypoint_mask, bboxes,
                                           peak_keypoints, peak_scores)
    if peak_scores.shape[-1] == 0:
        return GroupedLandmarks(keypoints, snapped, scores)
    cand = _slot_candidates(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                            peak_scores)
    dist = cand.dist.masked_fill(cand.peak_scores < score_thr, float('inf'))
    min_dist, nearest = dist.min(dim=-1)  # (N,)
    nearest_xy = cand.peaks.gather(1, nearest.view(-1, 1, 1).expand(-1, 1, 2)).squeeze(1)
    accept = torch.isfinite(min_dist) & _inside_boxes(nearest_xy, cand.boxes) \
        & (min_dist <= _max_snap_distance(cand.boxes, distance_ratio))
    batch_ids, det_ids, slot_ids = cand.batch_ids, cand.det_ids, cand.slot_ids
    triple = (batch_ids[accept], det_ids[accept], slot_ids[accept])
    snapped[triple] = True
    keypoints[triple] = nearest_xy[accept]
    scores[triple] = cand.peak_scores.gather(1, nearest.unsqueeze(1)).squeeze(1)[accept]
    return GroupedLandmarks(keypoints, snapped, scores)


@TASK_UTILS.register_module()
class CenterNetLandmarkGrouping(BaseLandmarkGrouping):
    """Each coarse landmark takes the nearest peak of its slot (peaks may be shared).

    The nearest peak scoring at least ``score_thr`` is taken unless it lies outside the
    detection's box or farther than ``distance_ratio * max(box w, box h)``; the coarse landmark is
    kept otherwise. See :func:`group_landmarks_nearest`.
    """

    def group(self, coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
              peak_keypoints: Tensor, peak_scores: Tensor) -> GroupedLandmarks:
        return group_landmarks_nearest(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                                       peak_scores, self.score_thr, self.distance_ratio)
