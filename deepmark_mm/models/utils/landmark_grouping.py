# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Grouping heatmap landmark peaks with garment detections (pure tensor functions).

Shapes: B images, K detections, J landmark slots, P peaks per slot; all coordinates in one frame
(feature pixels in the head).
"""
from typing import NamedTuple, Optional

import torch
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
    dist = (coarse.unsqueeze(1) - peaks).pow(2).sum(-1).sqrt()
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
    _check_shapes(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)
    snapped = torch.zeros_like(keypoint_mask, dtype=torch.bool)
    keypoints = coarse_keypoints.clone()
    scores = coarse_keypoints.new_zeros(keypoint_mask.shape)
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


def group_landmarks_exclusive(coarse_keypoints: Tensor,
                              keypoint_mask: Tensor,
                              bboxes: Tensor,
                              peak_keypoints: Tensor,
                              peak_scores: Tensor,
                              score_thr: float = 0.1,
                              distance_ratio: float = 0.3,
                              detection_mask: Optional[Tensor] = None) -> GroupedLandmarks:
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

    Args:
        coarse_keypoints (Tensor): (B, K, J, 2) regressed landmarks.
        keypoint_mask (Tensor): (B, K, J) bool, slots to group.
        bboxes (Tensor): (B, K, 4) xyxy detection boxes.
        peak_keypoints (Tensor): (B, J, P, 2) heatmap peaks.
        peak_scores (Tensor): (B, J, P) their scores.
        score_thr (float): Minimum peak score. Defaults to 0.1.
        distance_ratio (float): Maximum snap distance relative to the box's longer side.
            Defaults to 0.3.
        detection_mask (Tensor, optional): (B, K) bool, detections allowed to take peaks (e.g.
            NMS survivors); all when None.

    Returns:
        GroupedLandmarks: (B, K, J) results.
    """
    _check_shapes(coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)
    batch_size, _, num_keypoints, _ = coarse_keypoints.shape
    num_peaks = peak_scores.shape[-1]
    snapped = torch.zeros_like(keypoint_mask, dtype=torch.bool)
    keypoints = coarse_keypoints.clone()
    scores = coarse_keypoints.new_zeros(keypoint_mask.shape)
    if num_peaks == 0:
        return GroupedLandmarks(keypoints, snapped, scores)
    if detection_mask is not None:
        keypoint_mask = keypoint_mask & detection_mask.unsqueeze(-1)
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
