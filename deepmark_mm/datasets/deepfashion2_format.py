# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A COCO keypoint annotation as a dataset instance (docs/architecture.md), checked: errors
raise :class:`DeepFashion2FormatError` naming file and item."""
import numbers
from typing import Any, Dict, List, NoReturn, Sequence

import numpy as np

from .deepfashion2_metainfo import CATEGORY_NAMES, KEYPOINT_SLICES, NUM_CLASSES


class DeepFashion2FormatError(ValueError):
    """A DeepFashion2 file or item that cannot be used; the message names file and item."""


def _fail(where: str, problem: str) -> NoReturn:
    raise DeepFashion2FormatError(f'{where}: {problem}')


def check_fields(record: Any, keys: Sequence[str], where: str, what: str) -> None:
    """Raise, naming ``where``, unless ``record`` is a dict holding ``keys``."""
    if not isinstance(record, dict):
        _fail(where, f'{what} is a {type(record).__name__}, expected an object')
    for key in keys:
        if key not in record:
            _fail(where, f'missing field "{key}"')


def check_category_id(category_id: Any, where: str, num_classes: int = NUM_CLASSES) -> int:
    """The integer category id, 1..num_classes; an error naming ``where`` otherwise."""
    if isinstance(category_id, bool) or not isinstance(category_id, numbers.Integral) or \
            not 1 <= int(category_id) <= num_classes:
        _fail(where, f'category_id {category_id!r} is outside 1..{num_classes}')
    return int(category_id)


def check_box(box: Any, where: str, what: str = 'box', xywh: bool = False) -> List[float]:
    """The 4 floats of the field ``what``, ``box`` [x1, y1, x2, y2] (or [x, y, w, h] when
    ``xywh``), checked finite with positive width and height; errors name ``where``."""
    fields = '(x, y, w, h)' if xywh else '(x1, y1, x2, y2)'
    try:
        values = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.shape != (4, ) or not np.isfinite(values).all():
        _fail(where, f'{what} {box!r} is not 4 finite numbers {fields}')
    x1, y1, a, b = values.tolist()
    if (a <= 0 or b <= 0) if xywh else (a <= x1 or b <= y1):
        _fail(where, f'{what} {list(box)} {fields} is degenerate, inverted or not finite')
    return [x1, y1, a, b]


def check_keypoint_triplets(values: Any, num_expected: int, where: str,
                            what: str = 'landmarks') -> np.ndarray:
    """A flat [x, y, v] * n list (n = ``num_expected``) as (n, 3) float64, checked finite with
    v in {0, 1, 2}; errors name ``where`` and the field ``what``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((0, ))
    if array.ndim != 1 or array.size != 3 * num_expected:
        _fail(where, f'{what} has {array.size if array.ndim == 1 else "non-flat"} numbers, '
              f'expected {3 * num_expected} ({num_expected} landmarks x 3)')
    triplets = array.reshape(num_expected, 3)
    if not np.isfinite(triplets).all():
        _fail(where, f'{what} holds non-finite numbers')
    visibility = triplets[:, 2]
    bad = ~((visibility == 0) | (visibility == 1) | (visibility == 2))
    if bad.any():
        slot = int(np.flatnonzero(bad)[0])
        _fail(where, f'{what} visibility {triplets[slot, 2]:g} at landmark {slot + 1} is not one '
              'of 0 (unlabelled), 1 (occluded), 2 (visible)')
    return triplets


def coco_annotation_to_instance(annotation: Dict, where: str,
                                keypoint_slices: Sequence[Sequence[int]] = KEYPOINT_SLICES,
                                classes: Sequence[str] = CATEGORY_NAMES) -> Dict:
    """One COCO annotation, checked (errors name ``where``), as a dataset instance.

    ``keypoints`` holds 3 * K numbers (only the category's slice non-zero) or the category's own
    3 * n. Returns ``bbox`` xyxy, ``bbox_label``, ``ignore_flag``, ``keypoints`` (K, 2) float32,
    ``keypoints_visible`` (K,) uint8, ``area``, ``id``, ``pair_id``, ``style``.
    """
    check_fields(annotation, ('category_id', 'bbox', 'keypoints'), where, 'annotation')
    category_id = check_category_id(annotation['category_id'], where, len(keypoint_slices))
    start, end = keypoint_slices[category_id - 1]
    name, num_slots = classes[category_id - 1], max(stop for _, stop in keypoint_slices)
    x, y, w, h = check_box(annotation['bbox'], where, 'bbox', xywh=True)
    raw = annotation['keypoints']
    num_numbers = len(raw) if isinstance(raw, (Sequence, np.ndarray)) else -1
    if num_numbers == 3 * (end - start):
        triplets = check_keypoint_triplets(raw, end - start, where, 'keypoints')
    else:
        if num_numbers != 3 * num_slots:
            _fail(where, f'keypoints has {num_numbers} numbers; category {category_id} ({name}) '
                  f'needs {3 * num_slots} ({num_slots} slots x 3) or {3 * (end - start)}')
        full = check_keypoint_triplets(raw, num_slots, where, 'keypoints')
        outside = np.ones(num_slots, dtype=bool)
        outside[start:end] = False
        if (full[outside] != 0).any():
            slot = int(np.flatnonzero((full != 0).any(axis=1) & outside)[0])
            _fail(where, f'keypoints slot {slot} is set but category {category_id} ({name}) '
                  f'owns slots {start}..{end - 1}')
        triplets = full[start:end]
    keypoints = np.zeros((num_slots, 2), dtype=np.float32)
    visible = np.zeros(num_slots, dtype=np.uint8)
    labelled = triplets[:, 2] > 0
    keypoints[start:end] = triplets[:, :2] * labelled[:, None]
    visible[start:end] = triplets[:, 2]
    return dict(bbox=[x, y, x + w, y + h], bbox_label=category_id - 1,
                ignore_flag=int(bool(annotation.get('iscrowd', 0))), keypoints=keypoints,
                keypoints_visible=visible, area=w * h, id=annotation.get('id'),
                pair_id=annotation.get('pair_id'), style=annotation.get('style', 0))
