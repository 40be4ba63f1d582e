# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Exclusive landmark grouping: a heatmap peak serves at most one detection."""
import torch
from mmdet.registry import TASK_UTILS
from torch import Tensor

from .base import (BaseLandmarkGrouping, GroupedLandmarks, _inside_boxes, _max_snap_distance,
                   _slot_candidates, ungrouped)


def group_landmarks_exclusive(coarse_keypoints: Tensor,
                              keypoint_mask: Tensor,
                              bboxes: Tensor,
                              peak_keypoints: Tensor,
                              peak_scores: Tensor,
                              score_thr: float = 0.1,
                              distance_ratio: float = 0.3) -> GroupedLandmarks:
    """Exclusive grouping: each peak goes to at most one detection, nearest pairs first.

    A (detection, peak) pair of one slot is a candidate when the slot is masked for the detection,
    the peak scores at least ``score_thr``, lies inside the detection's box and within
    ``distance_ratio * max(box w, box h)`` of its coarse landmark. Candidates are then matched
    greedily in increasing distance (ties: lower detection index, i.e. higher score, then lower
    peak index); a detection whose nearest candidate went to a closer detection takes its next
    free candidate, and keeps its coarse landmark when none is left. No loop runs over pairs:
    candidates are ranked once, and each round matches every live pair that is the best of both
    its (detection, slot) and its peak, then drops the pairs they block. Such pairs are exactly
    those the sequential greedy would take next, so the result is the greedy matching; the
    globally best live pair always qualifies, so the rounds end.

    Args and returns: as :func:`.centernet_nearest.group_landmarks_nearest` (B images, K
    detections, J slots, P peaks per slot).
    """
    keypoints, snapped, scores = ungrouped(coarse_keypoints, keypoint_mask, bboxes,
                                           peak_keypoints, peak_scores)
    batch_size, _, num_keypoints, _ = coarse_keypoints.shape
    num_peaks = peak_scores.shape[-1]
    if num_peaks == 0:
        return GroupedLandmarks(keypoints, snapped, scores)
    cand = _slot_candidates(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                            peak_scores)
    allowed = (cand.peak_scores >= score_thr) & _inside_boxes(cand.peaks, cand.boxes.unsqueeze(1)) \
        & (cand.dist <= _max_snap_distance(cand.boxes, distance_ratio).unsqueeze(1))
    rows, peak_ids = allowed.nonzero(as_tuple=True)  # (C,) candidate pairs
    num_pairs = rows.numel()
    # greedy order: distance, then detection index (higher score first), then peak index
    order = torch.argsort(cand.det_ids[rows] * num_peaks + peak_ids, stable=True)
    order = order[torch.argsort(cand.dist[rows, peak_ids][order], stable=True)]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num_pairs, device=order.device)
    columns = (cand.batch_ids[rows] * num_keypoints + cand.slot_ids[rows]) * num_peaks + peak_ids
    num_rows, num_columns = cand.dist.shape[0], batch_size * num_keypoints * num_peaks
    alive = torch.ones(num_pairs, dtype=torch.bool, device=rows.device)
    won = torch.zeros_like(alive)
    while bool(alive.any()):
        live_rank = torch.where(alive, rank, num_pairs)
        row_best = live_rank.new_full((num_rows, ), num_pairs).scatter_reduce(
            0, rows, live_rank, reduce='amin')
        column_best = live_rank.new_full((num_columns, ), num_pairs).scatter_reduce(
            0, columns, live_rank, reduce='amin')
        # mutually best pairs; the globally best live pair always is one
        winners = alive & (live_rank == row_best[rows]) & (live_rank == column_best[columns])
        won |= winners
        row_taken = torch.zeros(num_rows, dtype=torch.bool, device=rows.device)
        row_taken[rows[winners]] = True
        column_taken = torch.zeros(num_columns, dtype=torch.bool, device=rows.device)
        column_taken[columns[winners]] = True
        alive &= ~row_taken[rows] & ~column_taken[columns]

    rows, peak_ids = rows[won], peak_ids[won]
    triple = (cand.batch_ids[rows], cand.det_ids[rows], cand.slot_ids[rows])
    snapped[triple] = True
    keypoints[triple] = cand.peaks[rows, peak_ids]
    scores[triple] = cand.peak_scores[rows, peak_ids]
    return GroupedLandmarks(keypoints, snapped, scores)


@TASK_UTILS.register_module()
class ExclusiveLandmarkGrouping(BaseLandmarkGrouping):
    """Peaks are matched one-to-one with detections, nearest (detection, peak) pairs first.

    Candidate pairs obey the CenterNet constraints (score >= ``score_thr``, peak inside the box,
    within ``distance_ratio * max(box w, box h)``); a detection that loses its nearest peak to a
    closer detection may take its next free candidate. See :func:`group_landmarks_exclusive`.
    """

    def group(self, coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
              peak_keypoints: Tensor, peak_scores: Tensor) -> GroupedLandmarks:
        return group_landmarks_exclusive(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints,
                                         peak_scores, self.score_thr, self.distance_ratio)
