# Copyright (c) deepmark_mm contributors. All rights reserved.
"""How one garment's landmarks are drawn: which slots, which colours (pure numpy)."""
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

Color = Tuple[int, int, int]


class GarmentLandmarkStyle(NamedTuple):
    """Drawing instructions for one garment's own landmark slots.

    Attributes:
        points (np.ndarray): (S, 2) float, the category's own slots in slot order.
        drawn (np.ndarray): (S,) bool, slots to draw.
        point_colors (np.ndarray): (S, 3) int64 colour of each slot.
        links (np.ndarray): (L, 2) int64 skeleton links, indices into ``points``.
        link_colors (np.ndarray): (L, 3) int64 colour of each link.
    """
    points: np.ndarray
    drawn: np.ndarray
    point_colors: np.ndarray
    links: np.ndarray
    link_colors: np.ndarray


def garment_landmark_style(keypoints: np.ndarray,
                           keypoint_slice: Sequence[int],
                           skeleton: Sequence[Sequence[int]],
                           color: Color,
                           low_color: Color,
                           visibility: Optional[np.ndarray] = None,
                           scores: Optional[np.ndarray] = None,
                           score_thr: float = 0.3,
                           draw_low: bool = True) -> GarmentLandmarkStyle:
    """Colour one garment's landmarks by visibility (ground truth) or score (prediction).

    Ground truth (``visibility`` given): v = 2 (visible) in ``color``, v = 1 (occluded) in
    ``low_color``, v = 0 (unlabelled) not drawn. Prediction (``scores`` given): score >=
    ``score_thr`` in ``color``, lower scores in ``low_color`` (not drawn when ``draw_low`` is
    False). A link is drawn when both ends are, in ``color`` when both ends are, else in
    ``low_color``.

    Args:
        keypoints (np.ndarray): (294, 2) landmarks of the garment.
        keypoint_slice (Sequence[int]): ``[start, end)`` of its category's slots.
        skeleton (Sequence[Sequence[int]]): Links of its category as pairs of global slot ids.
        color (tuple[int, int, int]): Colour of confident / visible landmarks.
        low_color (tuple[int, int, int]): Colour of occluded / low-score landmarks.
        visibility (np.ndarray, optional): (294,) DeepFashion2 visibility 0/1/2.
        scores (np.ndarray, optional): (294,) landmark scores (used when ``visibility`` is None).
        score_thr (float): Score of a confident predicted landmark.
        draw_low (bool): Draw low-score predicted landmarks.

    Returns:
        GarmentLandmarkStyle: Points, mask and colours of the category's own slots.
    """
    start, end = int(keypoint_slice[0]), int(keypoint_slice[1])
    points = np.asarray(keypoints, dtype=np.float64)[start:end]
    if visibility is not None:
        own_visibility = np.asarray(visibility, dtype=np.float64)[start:end]
        drawn = own_visibility > 0
        confident = own_visibility >= 2
    elif scores is not None:
        own_scores = np.asarray(scores, dtype=np.float64)[start:end]
        confident = own_scores >= score_thr
        drawn = np.ones_like(confident) if draw_low else confident
    else:
        drawn = confident = np.ones(end - start, dtype=bool)
    drawn = drawn & np.isfinite(points).all(axis=1)
    palette = np.array([low_color, color], dtype=np.int64)
    links = np.asarray(skeleton, dtype=np.int64).reshape(-1, 2) - start
    if len(links) and (links.min() < 0 or links.max() >= end - start):
        raise ValueError(f'skeleton links {np.asarray(skeleton).tolist()} leave the category '
                         f'slots [{start}, {end})')
    links = links[drawn[links].all(axis=1)]
    return GarmentLandmarkStyle(
        points=points,
        drawn=drawn,
        point_colors=palette[confident.astype(np.int64)],
        links=links,
        link_colors=palette[confident[links].all(axis=1).astype(np.int64)])
