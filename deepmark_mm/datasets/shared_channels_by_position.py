# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Shared landmark heatmap channels chosen from where landmarks sit inside their garment boxes.

"Efficient grouping for keypoint detection" (arXiv 2010.12390) merges keypoints of different
categories at the same place of the object. Here: per slot, the mean box-normalised position
(:func:`keypoint_position_statistics`), pooled with its flip partner's mirror
(:func:`mirror_pooled_statistics`); then (:func:`greedy_position_channels`) the two closest groups
are merged while closer than ``threshold`` (box-normalised units) and allowed: no category in
common, and both or neither their own mirror (not each other's), their mirrors merged in the same
step so the result is flip-consistent. Slots labelled fewer than ``min_count`` times stay alone;
channels are numbered by each group's smallest slot.
"""
from typing import Iterable, Sequence, Tuple

import numpy as np

from .keypoint_metainfo import keypoint_owner
from .shared_channel_table import KeypointChannelTable, check_channel_table


def keypoint_position_statistics(instances: Iterable[dict], num_keypoints: int,
                                 visible_only: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(J, 2) float64 mean box-normalised (x, y) (0 where never labelled) and (J,) int64 counts
    over dataset ``instances`` (:func:`.deepfashion2_format.coco_annotation_to_instance`), of
    landmarks with v in {1, 2} (v = 2 with ``visible_only``)."""
    sums = np.zeros((num_keypoints, 2), dtype=np.float64)
    counts = np.zeros(num_keypoints, dtype=np.int64)
    for instance in instances:
        x1, y1, x2, y2 = (float(v) for v in instance['bbox'])
        visible = np.asarray(instance['keypoints_visible'])
        labelled = visible == 2 if visible_only else visible > 0
        points = np.asarray(instance['keypoints'], dtype=np.float64)
        normalised = (points - [x1, y1]) / [x2 - x1, y2 - y1]
        sums[labelled] += normalised[labelled]
        counts += labelled
    means = sums / np.maximum(counts, 1)[:, None]
    return means, counts


def mirror_pooled_statistics(means: np.ndarray, counts: np.ndarray,
                             flip_indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """(J, 2) ``means`` and (J,) ``counts`` pooled with each flip partner's, mirrored (``x ->
    1 - x``): ``pooled[flip[j]] == (1 - pooled[j, 0], pooled[j, 1])``."""
    flip = np.asarray(flip_indices, dtype=np.int64)
    mirrored = means[flip].copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    total = counts + counts[flip]
    pooled = (means * counts[:, None] + mirrored * counts[flip][:, None]) / np.maximum(
        total, 1)[:, None]
    return pooled, total


def greedy_position_channels(means: np.ndarray,
                             counts: np.ndarray,
                             keypoint_slices: Sequence[Sequence[int]],
                             flip_indices: Sequence[int],
                             threshold: float,
                             min_count: int = 1,
                             source: str = 'automatic channel table') -> KeypointChannelTable:
    """The checked table of greedy closest-pair merging (module docstring) of the mirror-pooled
    (J, 2) ``means`` and (J,) ``counts``."""
    flip = np.asarray(flip_indices, dtype=np.int64)
    num_slots = len(flip)
    owner = keypoint_owner(keypoint_slices)
    # group state, indexed by the group's id (its first slot); inactive groups are masked out
    group_of = np.arange(num_slots)
    categories = np.zeros((num_slots, len(keypoint_slices)), dtype=bool)
    categories[np.arange(num_slots), owner] = True
    weight = counts.astype(np.float64)
    position_sum = means * weight[:, None]
    mergeable = counts >= min_count

    def merge(keep: int, gone: int) -> None:
        group_of[group_of == gone] = keep
        categories[keep] |= categories[gone]
        position_sum[keep] += position_sum[gone]
        weight[keep] += weight[gone]
        mergeable[gone] = False

    while True:
        ids = np.flatnonzero(mergeable)
        if ids.size < 2:
            break
        centre = position_sum[ids] / weight[ids, None]
        distance = np.linalg.norm(centre[:, None] - centre[None], axis=-1)
        mirror = group_of[flip[ids]]
        self_mirror = mirror == ids
        allowed = ~(categories[ids].astype(np.int64) @ categories[ids].T.astype(np.int64)
                    ).astype(bool)
        allowed &= self_mirror[:, None] == self_mirror[None, :]
        allowed &= mirror[:, None] != ids[None, :]
        allowed &= np.triu(np.ones_like(allowed), k=1)
        allowed &= distance < threshold
        if not allowed.any():
            break
        flat = int(np.argmin(np.where(allowed, distance, np.inf)))
        a, b = (int(ids[i]) for i in np.unravel_index(flat, allowed.shape))
        mirror_a, mirror_b = int(group_of[flip[a]]), int(group_of[flip[b]])
        merge(min(a, b), max(a, b))
        if mirror_a != a:
            merge(min(mirror_a, mirror_b), max(mirror_a, mirror_b))
    roots, slot_to_channel = np.unique(group_of, return_inverse=True)
    table = KeypointChannelTable(slot_to_channel.astype(np.int64), int(roots.size),
                                 tuple(f'group_of_slot_{int(r)}' for r in roots), source)
    check_channel_table(table, keypoint_slices, flip)
    return table
