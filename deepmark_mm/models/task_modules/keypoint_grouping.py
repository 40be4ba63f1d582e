# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark-grouping rules of :class:`~.deepmark_codec.DeepMarkCodec`: which heatmap peak, if
any, replaces each regressed (coarse) landmark.

Shapes: B images, K detections, J landmark slots, P peaks per slot, N masked (image, detection,
slot) triples; all coordinates in one frame.
"""
from typing import NamedTuple, Tuple, Union

import torch
from torch import Tensor

#: Accepted ``grouping`` types -> rule (the class names are those of older configs).
GROUPING_RULES = {
    'nearest': 'nearest', 'exclusive': 'exclusive', 'CenterNetKeypointGrouping': 'nearest',
    'ExclusiveKeypointGrouping': 'exclusive'
}
#: Grouping types of configs written before the keypoint vocabulary: refused with the new name.
RENAMED_GROUPING_TYPES = dict(CenterNetLandmarkGrouping='CenterNetKeypointGrouping',
                              ExclusiveLandmarkGrouping='ExclusiveKeypointGrouping')


def parse_grouping(grouping: Union[None, str, dict]) -> Tuple[str, float, float]:
    """``(rule, score_thr, distance_ratio)`` of a codec's ``grouping`` option (None:
    ``'nearest'``; defaults ``score_thr=0.1``, ``distance_ratio=0.3``); a clear error otherwise."""
    grouping = dict(type=grouping or 'nearest') if not isinstance(grouping, dict) else grouping
    grouping = dict(grouping)
    rule_type = grouping.pop('type', 'nearest')
    if rule_type in RENAMED_GROUPING_TYPES:
        raise ValueError(f'DeepMarkCodec: grouping {rule_type} is now called '
                         f'{RENAMED_GROUPING_TYPES[rule_type]}')
    rule = GROUPING_RULES.get(rule_type, 'unknown')
    score_thr = float(grouping.pop('score_thr', 0.1))
    distance_ratio = float(grouping.pop('distance_ratio', 0.3))
    if rule == 'unknown' or grouping or not 0 <= score_thr <= 1 or distance_ratio < 0:
        raise ValueError(f'DeepMarkCodec: grouping must be one of {sorted(GROUPING_RULES)} '
                         f'with score_thr in [0, 1] and distance_ratio >= 0 only, got '
                         f'{rule}(score_thr={score_thr}, distance_ratio={distance_ratio}) and '
                         f'{grouping}')
    return rule, score_thr, distance_ratio


class GroupedKeypoints(NamedTuple):
    """``keypoints`` (B, K, J, 2): the snapped peak where ``snapped`` (B, K, J), else the coarse
    landmark; ``peak_scores`` (B, K, J): the taken peak's score, 0 where not snapped."""
    keypoints: Tensor
    snapped: Tensor
    peak_scores: Tensor


def group_keypoints_nearest(coarse_keypoints: Tensor,
                            keypoint_mask: Tensor,
                            bboxes: Tensor,
                            peak_keypoints: Tensor,
                            peak_scores: Tensor,
                            score_thr: float = 0.1,
                            distance_ratio: float = 0.3) -> GroupedKeypoints:
    """CenterNet ``multi_pose_decode`` grouping: snap to the nearest peak of the same slot.

    Peaks scoring below ``score_thr`` are ignored. Each masked coarse landmark finds its nearest
    valid peak and takes it unless that peak lies outside the detection's box or is farther
    than ``distance_ratio * max(box w, box h)``; then the coarse landmark is kept (the next
    nearest peak is not tried). A peak may serve several detections.

    Takes (B, K, J, 2) ``coarse_keypoints``, (B, K, J) bool ``keypoint_mask`` (the slots to
    group), (B, K, 4) xyxy ``bboxes``, (B, J, P, 2) ``peak_keypoints`` and (B, J, P)
    ``peak_scores``.
    """
    keypoints, snapped, scores = _ungrouped(coarse_keypoints, keypoint_mask, bboxes,
                                            peak_keypoints, peak_scores)
    if peak_scores.shape[-1] == 0:
        return GroupedKeypoints(keypoints, snapped, scores)
    batch_ids, det_ids, slot_ids, peaks, cand_scores, dist, boxes = _slot_candidates(
        coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)
    dist = dist.masked_fill(cand_scores < score_thr, float('inf'))
    min_dist, nearest = dist.min(dim=-1)  # (N,)
    nearest_xy = peaks.gather(1, nearest.view(-1, 1, 1).expand(-1, 1, 2)).squeeze(1)
    accept = torch.isfinite(min_dist) & _inside_boxes(nearest_xy, boxes) \
        & (min_dist <= _max_snap_distance(boxes, distance_ratio))
    triple = (batch_ids[accept], det_ids[accept], slot_ids[accept])
    snapped[triple] = True
    keypoints[triple] = nearest_xy[accept]
    scores[triple] = cand_scores.gather(1, nearest.unsqueeze(1)).squeeze(1)[accept]
    return GroupedKeypoints(keypoints, snapped, scores)


def group_keypoints_exclusive(coarse_keypoints: Tensor,
                              keypoint_mask: Tensor,
                              bboxes: Tensor,
                              peak_keypoints: Tensor,
                              peak_scores: Tensor,
                              score_thr: float = 0.1,
                              distance_ratio: float = 0.3) -> GroupedKeypoints:
    """Exclusive grouping: each peak goes to at most one detection, nearest pairs first.

    A (detection, peak) pair of one slot is a candidate when the slot is masked for the detection,
    the peak scores at least ``score_thr``, lies inside the detection's box and within
    ``distance_ratio * max(box w, box h)`` of its coarse landmark. Candidates are matched
    greedily in increasing distance (ties: lower detection index, i.e. higher score, then lower
    peak index); a detection whose nearest candidate went to a closer detection takes its next
    free candidate, and keeps its coarse landmark when none is left. Each round matches every
    live pair that is best for both its (detection, slot) and its peak (what the sequential
    greedy takes next).

    Args and returns: as :func:`group_keypoints_nearest`.
    """
    keypoints, snapped, scores = _ungrouped(coarse_keypoints, keypoint_mask, bboxes,
                                            peak_keypoints, peak_scores)
    batch_size, _, num_keypoints, _ = coarse_keypoints.shape
    num_peaks = peak_scores.shape[-1]
    if num_peaks == 0:
        return GroupedKeypoints(keypoints, snapped, scores)
    batch_ids, det_ids, slot_ids, peaks, cand_scores, dist, boxes = _slot_candidates(
        coarse_keypoints, keypoint_mask, bboxes, peak_keypoints, peak_scores)
    allowed = (cand_scores >= score_thr) & _inside_boxes(peaks, boxes.unsqueeze(1)) \
        & (dist <= _max_snap_distance(boxes, distance_ratio).unsqueeze(1))
    rows, peak_ids = allowed.nonzero(as_tuple=True)  # (C,) candidate pairs
    num_pairs = rows.numel()
    # greedy order: distance, then detection index (higher score first), then peak index
    order = torch.argsort(det_ids[rows] * num_peaks + peak_ids, stable=True)
    order = order[torch.argsort(dist[rows, peak_ids][order], stable=True)]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(num_pairs, device=order.device)
    columns = (batch_ids[rows] * num_keypoints + slot_ids[rows]) * num_peaks + peak_ids
    num_rows, num_columns = dist.shape[0], batch_size * num_keypoints * num_peaks
    alive = torch.ones(num_pairs, dtype=torch.bool, device=rows.device)
    won = torch.zeros_like(alive)
    while bool(alive.any()):
        live_rank = torch.where(alive, rank, num_pairs)
        row_best = live_rank.new_full((num_rows, ), num_pairs).scatter_reduce(
            0, rows, live_rank, reduce='amin')
        column_best = live_rank.new_full((num_columns, ), num_pairs).scatter_reduce(
            0, columns, live_rank, reduce='amin')
        winners = alive & (live_rank == row_best[rows]) & (live_rank == column_best[columns])
        won |= winners
        row_taken = torch.zeros(num_rows, dtype=torch.bool, device=rows.device)
        row_taken[rows[winners]] = True
        column_taken = torch.zeros(num_columns, dtype=torch.bool, device=rows.device)
        column_taken[columns[winners]] = True
        alive &= ~row_taken[rows] & ~column_taken[columns]

    rows, peak_ids = rows[won], peak_ids[won]
    triple = (batch_ids[rows], det_ids[rows], slot_ids[rows])
    snapped[triple] = True
    keypoints[triple] = peaks[rows, peak_ids]
    scores[triple] = cand_scores[rows, peak_ids]
    return GroupedKeypoints(keypoints, snapped, scores)


#: Grouping rule (:func:`parse_grouping`) -> its function.
GROUPERS = dict(nearest=group_keypoints_nearest, exclusive=group_keypoints_exclusive)


def _slot_candidates(coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
                     peak_keypoints: Tensor, peak_scores: Tensor):
    """Every masked triple with all the peaks of its slot (N x P, not B x J x K x P): batch,
    detection and slot ids (N,), peaks (N, P, 2), their scores and distances to the coarse
    landmark (N, P), the detection's box (N, 4)."""
    batch_ids, det_ids, slot_ids = keypoint_mask.nonzero(as_tuple=True)
    coarse = coarse_keypoints[batch_ids, det_ids, slot_ids]  # (N, 2)
    peaks = peak_keypoints[batch_ids, slot_ids]  # (N, P, 2)
    # per axis (faster than a reduction over the point axis on the CPU)
    dx, dy = coarse[:, :1] - peaks[..., 0], coarse[:, 1:] - peaks[..., 1]
    dist = (dx * dx).add_(dy * dy).sqrt_()
    return (batch_ids, det_ids, slot_ids, peaks, peak_scores[batch_ids, slot_ids], dist,
            bboxes[batch_ids, det_ids])


def _inside_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """(...) bool: (..., 2) points inside (..., 4) xyxy boxes, borders included."""
    xs, ys = points[..., 0], points[..., 1]
    return (xs >= boxes[..., 0]) & (xs <= boxes[..., 2]) & \
           (ys >= boxes[..., 1]) & (ys <= boxes[..., 3])


def _max_snap_distance(bboxes: Tensor, distance_ratio: float) -> Tensor:
    """``distance_ratio * max(box w, box h)``, (..., 4) -> (...)."""
    size = torch.maximum(bboxes[..., 2] - bboxes[..., 0], bboxes[..., 3] - bboxes[..., 1])
    return distance_ratio * size


def _ungrouped(coarse_keypoints: Tensor, keypoint_mask: Tensor, bboxes: Tensor,
               peak_keypoints: Tensor, peak_scores: Tensor) -> GroupedKeypoints:
    """Check the shapes and return the starting point: every landmark coarse, nothing snapped,
    scores 0 (fresh tensors the rules fill in)."""
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
    return GroupedKeypoints(coarse_keypoints.clone(),
                            torch.zeros_like(keypoint_mask, dtype=torch.bool),
                            coarse_keypoints.new_zeros(keypoint_mask.shape))
