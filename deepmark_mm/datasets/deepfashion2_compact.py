# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Compact in-memory DeepFashion2 annotations: only the category's own landmark slots.

A garment of category c uses only the slots ``KEYPOINT_SLICES[c]`` (8 to 39 of the 294), so the
full (294, 2) / (294,) arrays and the official 882-number keypoint lists are mostly zeros. The
dataset keeps the own slots while loading and in its serialized data list, and expands them back
when a sample is fetched; the expanded instance is exactly the one built from the full arrays.
"""
import numbers
from typing import Dict

import numpy as np

from .deepfashion2_metainfo import KEYPOINT_SLICES, NUM_CLASSES, NUM_KEYPOINTS

#: The COCO annotation fields the dataset reads (the rest, e.g. ``segmentation``, is dropped).
DATASET_ANNOTATION_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'keypoints', 'iscrowd',
                           'pair_id', 'style')
#: Compact instance key -> full instance key.
COMPACT_KEYS = dict(own_keypoints='keypoints', own_keypoints_visible='keypoints_visible')
_FULL_KEYS = {full: compact for compact, full in COMPACT_KEYS.items()}


def _own_slice(category_id: object):
    """The category's (start, end) slots, or None for an id the dataset would reject."""
    if isinstance(category_id, bool) or not isinstance(category_id, numbers.Integral) or \
            not 1 <= int(category_id) <= NUM_CLASSES:
        return None
    return KEYPOINT_SLICES[int(category_id) - 1]


def slim_coco_annotation(annotation: object) -> object:
    """Keep what the dataset reads; a valid 882-number ``keypoints`` becomes the own slots.

    The keypoints become a (3 * n,) float64 array of the category's n own triplets only when the
    list is valid (finite, visibility in {0, 1, 2}, zeros outside the own slots), so that
    :func:`~.deepfashion2_format.coco_annotation_to_instance` gives the same instance as for the
    full list; anything else is left as it is, for the same error message.

    Args:
        annotation: One element of a COCO ``annotations`` array.

    Returns:
        The slimmed annotation (a new dict), or ``annotation`` itself when it is not a dict.
    """
    if not isinstance(annotation, dict):
        return annotation
    slim = {key: annotation[key] for key in DATASET_ANNOTATION_KEYS if key in annotation}
    raw = slim.get('keypoints')
    own = _own_slice(slim.get('category_id'))
    if own is None or not isinstance(raw, list) or len(raw) != 3 * NUM_KEYPOINTS:
        return slim
    try:
        full = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        return slim
    if full.shape != (3 * NUM_KEYPOINTS, ) or not np.isfinite(full).all():
        return slim
    start, end = own
    visibility = full[3 * start + 2:3 * end:3]
    if full[:3 * start].any() or full[3 * end:].any() or \
            not ((visibility == 0) | (visibility == 1) | (visibility == 2)).all():
        return slim
    slim['keypoints'] = full[3 * start:3 * end].copy()
    return slim


def compact_instance(instance: Dict) -> Dict:
    """Replace ``keypoints`` (294, 2) / ``keypoints_visible`` (294,) by the own slots.

    Args:
        instance (dict): A dataset instance (``bbox_label`` 0..12, zeros outside the own slots).

    Returns:
        dict: Same keys in the same order, except ``own_keypoints`` (n, 2) float32 and
        ``own_keypoints_visible`` (n,) uint8 in place of the full arrays.
    """
    start, end = KEYPOINT_SLICES[instance['bbox_label']]
    return {
        _FULL_KEYS.get(key, key): value[start:end].copy() if key in _FULL_KEYS else value
        for key, value in instance.items()
    }


def expand_instance(instance: Dict) -> Dict:
    """Inverse of :func:`compact_instance` (instances that are not compact pass unchanged).

    Args:
        instance (dict): A compact instance.

    Returns:
        dict: ``keypoints`` (294, 2) float32 and ``keypoints_visible`` (294,) uint8, zeros
        outside the category's slots.
    """
    if 'own_keypoints' not in instance:
        return instance
    start, end = KEYPOINT_SLICES[instance['bbox_label']]
    full = {}
    for key, value in instance.items():
        if key in COMPACT_KEYS:
            array = np.zeros((NUM_KEYPOINTS, ) + value.shape[1:], dtype=value.dtype)
            array[start:end] = value
            full[COMPACT_KEYS[key]] = array
        else:
            full[key] = value
    return full
