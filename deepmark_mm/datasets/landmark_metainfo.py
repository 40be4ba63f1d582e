# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark-set description every DeepMark component reads, whatever the landmark set.

A landmark set has ``num_classes`` categories and ``num_keypoints`` slots; category ``c`` owns the
contiguous slots ``keypoint_slices[c] = [start, end)``. DeepFashion2 (13 categories, 294 slots,
:mod:`.deepfashion2_metainfo`) is the default.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np


def resolve_keypoint_slices(num_classes: int,
                            num_keypoints: int,
                            keypoint_slices: Optional[Sequence[Sequence[int]]] = None,
                            owner: str = 'landmark metainfo') -> List[Tuple[int, int]]:
    """Checked ``[start, end)`` slot slices, DeepFashion2's when None.

    Args:
        num_classes (int): Categories.
        num_keypoints (int): Landmark slots over all categories.
        keypoint_slices (Sequence[Sequence[int]], optional): One ``[start, end)`` per category.
        owner (str): Who asks, for the error message.

    Returns:
        list[tuple[int, int]]: ``num_classes`` pairs with ``0 <= start < end <= num_keypoints``.

    Raises:
        ValueError: If None is given for a set other than DeepFashion2's, or the slices are
            malformed.
    """
    if keypoint_slices is None:
        from .deepfashion2_metainfo import KEYPOINT_SLICES, NUM_CLASSES, NUM_KEYPOINTS
        if (num_classes, num_keypoints) != (NUM_CLASSES, NUM_KEYPOINTS):
            raise ValueError(
                f'{owner}: keypoint_slices is required when num_classes={num_classes} '
                f'and num_keypoints={num_keypoints} differ from DeepFashion2 '
                f'({NUM_CLASSES}, {NUM_KEYPOINTS})')
        keypoint_slices = KEYPOINT_SLICES
    slices = [tuple(int(v) for v in s) for s in keypoint_slices]
    if len(slices) != num_classes or any(
            len(s) != 2 or not 0 <= s[0] < s[1] <= num_keypoints for s in slices):
        raise ValueError(
            f'{owner}: keypoint_slices must hold {num_classes} [start, end) pairs with '
            f'0 <= start < end <= {num_keypoints}, got {slices}')
    return slices  # type: ignore[return-value]


def category_keypoint_mask(num_keypoints: int,
                           keypoint_slices: Sequence[Sequence[int]]) -> np.ndarray:
    """Boolean table of which slots belong to which category.

    Args:
        num_keypoints (int): J.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        np.ndarray: (num_classes, J) bool, row ``c`` true on category ``c``'s slice.
    """
    mask = np.zeros((len(keypoint_slices), num_keypoints), dtype=bool)
    for label, (start, end) in enumerate(keypoint_slices):
        mask[label, start:end] = True
    return mask
