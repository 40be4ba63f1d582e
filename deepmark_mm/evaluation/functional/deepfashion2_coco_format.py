# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Conversions between deepmark_mm's data contract and the DeepFashion2 evaluation's COCO layout.

Ground truth follows the official ``deepfashion2_to_coco.py`` converter: ``bbox`` =
``[x, y, w, h]``, ``area`` = ``w * h`` (the OKS area of the official keypoint evaluation), 882
keypoint numbers (``x, y, v`` per slot, v in 0 unlabelled / 1 occluded / 2 visible),
``num_keypoints`` = labelled slots, ``category_id`` = label + 1.

Results follow the official result examples (``evaluation/example/`` of
switchablenorms/DeepFashion2): boxes as ``[x, y, w, h]`` with ``score``; keypoints as 882 numbers
with the detection score as ``score``. A detection writes ``x, y, 1`` on the slots of its own
category and ``0, 0, 0`` on the other categories' slots (it predicts nothing there; the official
evaluation only compares slots the ground truth labels, and a detection only meets ground truth of
its own category).

Keypoint predictions are kept compactly between ``process`` and ``compute_metrics``: only the
detection's own slots (at most :data:`MAX_CATEGORY_SLOTS`), see :func:`gather_own_keypoints` and
:func:`expand_own_keypoints`.

The functions return new objects and never modify their input; only :func:`dump_json_list` writes
(a file).
"""
import json
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.datasets.landmark_metainfo import category_keypoint_mask, slot_count

#: (start, end) slot slices per category; the functions below default to DeepFashion2's and take
#: any landmark set's (its metainfo ``keypoint_slices``).
Slices = Sequence[Sequence[int]]

#: DeepFashion2 visibility codes.
UNLABELLED, OCCLUDED, VISIBLE = 0, 1, 2

#: Most landmark slots any DeepFashion2 category owns (long sleeve outwear: 39).
MAX_CATEGORY_SLOTS: int = max(end - start for start, end in KEYPOINT_SLICES)


def xyxy_to_xywh(bboxes: np.ndarray) -> np.ndarray:
    """Convert corner boxes to COCO ``[x, y, w, h]`` boxes.

    Args:
        bboxes (np.ndarray): (N, 4) boxes ``[x1, y1, x2, y2]``.

    Returns:
        np.ndarray: (N, 4) boxes ``[x1, y1, x2 - x1, y2 - y1]``, float64.
    """
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([bboxes[:, :2], bboxes[:, 2:] - bboxes[:, :2]], axis=1)


def deepfashion2_categories(classes: Sequence[str] = CLASSES,
                            num_keypoints: int = NUM_KEYPOINTS) -> List[Dict]:
    """The COCO ``categories`` list of DeepFashion2 (ids 1..13, 294 keypoint names each).

    Args:
        classes (Sequence[str]): Category names in label order.
        num_keypoints (int): Landmark slots K.

    Returns:
        list[dict]: ``id``, ``name``, ``supercategory``, ``keypoints`` (slot names ``'1'..'K'``,
        as written by the official converter) and ``skeleton`` per category.
    """
    keypoint_names = [str(i + 1) for i in range(num_keypoints)]
    return [
        dict(
            id=label + 1, name=name, supercategory='clothes', keypoints=keypoint_names, skeleton=[])
        for label, name in enumerate(classes)
    ]


def _as_array(value, dtype, shape, what: str, img_id) -> np.ndarray:
    """``np.asarray`` with a shape check whose error names the image and the field."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f'image {img_id}: {what} cannot be read as numbers ({error})') from error
    if array.shape != tuple(shape):
        raise ValueError(f'image {img_id}: {what} has shape {array.shape}, expected {tuple(shape)}')
    return array


def instances_to_coco_annotations(instances: Sequence[Dict],
                                  img_id: int,
                                  first_ann_id: int = 1,
                                  keypoint_slices: Slices = KEYPOINT_SLICES,
                                  classes: Sequence[str] = CLASSES) -> List[Dict]:
    """Turn one image's dataset instances into COCO keypoint annotations.

    Args:
        instances (Sequence[dict]): Raw dataset instances of one image (``docs/architecture.md``):
            ``bbox`` [x1, y1, x2, y2] in original pixels, ``bbox_label`` 0..12, ``keypoints``
            (294, 2), ``keypoints_visible`` (294,) in {0, 1, 2}, optional ``ignore_flag`` (written
            as ``iscrowd``).
        img_id (int): The image id.
        first_ann_id (int): Id of the first annotation (COCO ids must be >= 1).
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.
        classes (Sequence[str]): Category names (for messages).

    Returns:
        list[dict]: COCO annotations with ``area = w * h`` of the box, ``num_keypoints = #(v > 0)``
        and ``keypoints`` as a (882,) float64 array (``x, y, v`` per slot, zeros where v = 0).

    Raises:
        ValueError: On a missing field, a wrong shape, a label outside 0..12, a visibility outside
            {0, 1, 2}, a labelled slot outside the category's slice or a non-finite number; the
            message names the image and the instance.
    """
    num_keypoints, num_classes = slot_count(keypoint_slices), len(keypoint_slices)
    own_slots = category_keypoint_mask(num_keypoints, keypoint_slices)
    annotations = []
    for index, instance in enumerate(instances):
        what = f'instance {index}'
        for key in ('bbox', 'bbox_label', 'keypoints', 'keypoints_visible'):
            if key not in instance:
                raise ValueError(
                    f'image {img_id}: {what} has no {key!r} (keys: {sorted(instance)})')
        bbox = _as_array(instance['bbox'], np.float64, (4, ), f'{what} bbox', img_id)
        keypoints = _as_array(instance['keypoints'], np.float64, (num_keypoints, 2),
                              f'{what} keypoints', img_id)
        visible = _as_array(instance['keypoints_visible'], np.float64, (num_keypoints, ),
                            f'{what} keypoints_visible', img_id)
        label = int(instance['bbox_label'])
        if not 0 <= label < num_classes:
            raise ValueError(
                f'image {img_id}: {what} bbox_label {label} is outside 0..{num_classes - 1}')
        if not np.isin(visible, (UNLABELLED, OCCLUDED, VISIBLE)).all():
            raise ValueError(f'image {img_id}: {what} keypoints_visible holds '
                             f'{np.unique(visible).tolist()}, expected values in {{0, 1, 2}}')
        if (visible[~own_slots[label]] > 0).any():
            raise ValueError(f'image {img_id}: {what} ({classes[label]}) labels slots outside its '
                             f'category slice {tuple(keypoint_slices[label])}')
        if not (np.isfinite(bbox).all() and np.isfinite(keypoints[visible > 0]).all()):
            raise ValueError(f'image {img_id}: {what} has non-finite box or landmark coordinates')
        keypoints = np.where(visible[:, None] > 0, keypoints, 0.0)
        xywh = xyxy_to_xywh(bbox)[0]
        annotations.append(
            dict(
                id=first_ann_id + index,
                image_id=img_id,
                category_id=label + 1,
                bbox=xywh.tolist(),
                area=float(xywh[2] * xywh[3]),
                iscrowd=int(instance.get('ignore_flag', 0)),
                num_keypoints=int((visible > 0).sum()),
                keypoints=np.concatenate([keypoints, visible[:, None]], axis=1).ravel()))
    return annotations


def build_coco_ground_truth(gt_dicts: Sequence[Dict],
                            classes: Sequence[str] = CLASSES,
                            keypoint_slices: Slices = KEYPOINT_SLICES) -> Dict:
    """Build an in-memory COCO dataset dict (official converter layout) from per-image ground truth.

    Args:
        gt_dicts (Sequence[dict]): One dict per image with ``img_id``, ``width``, ``height`` and
            ``anns`` (the dataset instances, see :func:`instances_to_coco_annotations`).
        classes (Sequence[str]): Category names in label order.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        dict: ``images``, ``annotations`` (ids 1..A in order), ``categories``. Keypoints are numpy
        arrays, so the dict is meant for pycocotools, not for ``json.dump``.

    Raises:
        ValueError: When an image id appears twice or an instance is malformed.
    """
    images, annotations, seen = [], [], set()
    for gt in gt_dicts:
        img_id = gt['img_id']
        if img_id in seen:
            raise ValueError(f'image {img_id} was evaluated twice; image ids must be unique')
        seen.add(img_id)
        images.append(
            dict(id=img_id, width=int(gt['width']), height=int(gt['height']), file_name=''))
        annotations += instances_to_coco_annotations(gt['anns'], img_id, len(annotations) + 1,
                                                     keypoint_slices, classes)
    return dict(images=images, annotations=annotations,
                categories=deepfashion2_categories(classes, slot_count(keypoint_slices)))


def category_landmark_annotations(annotations: Sequence[Dict],
                                  label: int,
                                  visible_only: bool = False,
                                  keypoint_slices: Slices = KEYPOINT_SLICES,
                                  classes: Sequence[str] = CLASSES) -> List[Dict]:
    """One category's ground truth with keypoints cut down to the category's own slots.

    The official OKS of a ground truth with labelled slots only involves slots with v > 0, which
    all lie in its category's slice: evaluating on the slice with the sliced sigmas gives the same
    OKS (see :func:`~deepmark_mm.evaluation.functional.run_keypoint_eval_by_category`).

    Args:
        annotations (Sequence[dict]): COCO keypoint annotations of category ``label + 1``
            (882 numbers each).
        label (int): The category's label 0..12.
        visible_only (bool): Keep only visible slots (v = 2): occluded ones (v = 1) become
            unlabelled and ``num_keypoints`` is recounted, so ground truth left without a labelled
            slot is ignored, as in the paper's "visible" landmark mAP. Otherwise the annotation's
            own ``num_keypoints`` is kept (what the official evaluation reads).
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.
        classes (Sequence[str]): Category names (for messages).

    Returns:
        list[dict]: New annotation dicts (other fields shared) whose ``keypoints`` is a
        (3 * n_slots,) float64 array.

    Raises:
        ValueError: When an annotation labels a slot outside its category's slice or has the wrong
            number of keypoint values; the message names the annotation and image.
    """
    start, end = keypoint_slices[label]
    num_slots = slot_count(keypoint_slices)
    sliced = []
    for ann in annotations:
        keypoints = np.array(ann['keypoints'], dtype=np.float64)
        if keypoints.shape != (3 * num_slots, ):
            raise ValueError(f'annotation {ann.get("id")} (image {ann.get("image_id")}) has '
                             f'{keypoints.size} keypoint values, expected {3 * num_slots}')
        keypoints = keypoints.reshape(num_slots, 3)
        outside = np.ones(num_slots, dtype=bool)
        outside[start:end] = False
        if (keypoints[outside, 2] > 0).any():
            raise ValueError(f'annotation {ann.get("id")} (image {ann.get("image_id")}, '
                             f'{classes[label]}) labels slots outside its category slice '
                             f'{tuple(keypoint_slices[label])}')
        own = keypoints[start:end].copy()
        num_keypoints = ann['num_keypoints']
        if visible_only:
            own[own[:, 2] != VISIBLE] = 0.0
            num_keypoints = int((own[:, 2] > 0).sum())
        sliced.append({**ann, 'keypoints': own.ravel(), 'num_keypoints': num_keypoints})
    return sliced


def check_finite_predictions(img_id, **arrays: np.ndarray) -> None:
    """Raise when any prediction array holds NaN or inf.

    Args:
        img_id: The image the predictions belong to (named in the error).
        **arrays (np.ndarray): Named arrays whose first axis is the detection (e.g.
            ``bboxes=(N, 4)``, ``scores=(N,)``).

    Raises:
        ValueError: Naming the image, the field and the first bad detection.
    """
    for name, array in arrays.items():
        array = np.asarray(array, dtype=np.float64)
        if array.size == 0:
            continue
        bad = ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
        if bad.any():
            raise ValueError(f'image {img_id}: pred_instances.{name} holds NaN/inf (detection '
                             f'{int(np.flatnonzero(bad)[0])} of {array.shape[0]})')


def top_k_per_category(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best-scored detections of each category, in their original order.

    Ties are broken exactly as pycocotools does (stable sort on ``-score``), so the keypoint
    evaluation (which only looks at the first ``maxDets = 20`` per image and category) sees the same
    detections whether or not this filter ran first.

    Args:
        scores (np.ndarray): (N,) scores.
        labels (np.ndarray): (N,) labels.
        k (int): Detections kept per category.

    Returns:
        np.ndarray: (M,) int64 increasing indices, M <= N.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    by_score = np.argsort(-scores, kind='mergesort')
    # stable sort by label keeps the score order inside each category
    order = by_score[np.argsort(labels[by_score], kind='mergesort')]
    sorted_labels = labels[order]
    first_of_label = np.searchsorted(sorted_labels, sorted_labels, side='left')
    rank = np.arange(len(order)) - first_of_label
    return np.sort(order[rank < k]).astype(np.int64)


def _own_slot_table(keypoint_slices: Slices) -> np.ndarray:
    """(C, S) slot ids of each category, padded with its last slot (S: the longest slice)."""
    starts = np.array([start for start, _ in keypoint_slices])
    ends = np.array([end for _, end in keypoint_slices])
    width = int((ends - starts).max())
    return np.minimum(starts[:, None] + np.arange(width), ends[:, None] - 1)


def gather_own_keypoints(keypoints: np.ndarray,
                         labels: np.ndarray,
                         keypoint_slices: Slices = KEYPOINT_SLICES) -> np.ndarray:
    """Keep only each detection's own-category slots.

    Args:
        keypoints (np.ndarray): (N, 294, 2) landmarks.
        labels (np.ndarray): (N,) labels 0..C-1.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        np.ndarray: (N, S, 2) float32 (S: the longest slice, ``MAX_CATEGORY_SLOTS`` for
        DeepFashion2); row ``i`` holds the slots ``keypoint_slices[labels[i]]`` first, then
        padding.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(
        len(labels), slot_count(keypoint_slices), 2)
    return keypoints[np.arange(len(labels))[:, None], _own_slot_table(keypoint_slices)[labels]]


def expand_own_keypoints(own_keypoints: np.ndarray,
                         labels: np.ndarray,
                         keypoint_slices: Slices = KEYPOINT_SLICES) -> np.ndarray:
    """Official 882-number keypoint rows from compact own-category landmarks.

    Args:
        own_keypoints (np.ndarray): (N, MAX_CATEGORY_SLOTS, 2) from :func:`gather_own_keypoints`.
        labels (np.ndarray): (N,) labels 0..C-1.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        np.ndarray: (N, 3K) float32 (882 for DeepFashion2), ``x, y, 1`` on each detection's
        category slots, zeros elsewhere.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    table = _own_slot_table(keypoint_slices)
    num_keypoints = slot_count(keypoint_slices)
    slots = table[labels]  # (N, S)
    lengths = np.array([end - start for start, end in keypoint_slices])[labels]
    used = np.arange(table.shape[1])[None] < lengths[:, None]  # (N, S)
    detection = np.broadcast_to(np.arange(len(labels))[:, None], slots.shape)
    rows = np.zeros((len(labels), num_keypoints, 3), dtype=np.float32)
    rows[detection[used], slots[used], :2] = np.asarray(own_keypoints)[used]
    rows[detection[used], slots[used], 2] = 1.0
    return rows.reshape(len(labels), 3 * num_keypoints)


def bbox_results(img_ids: np.ndarray, bboxes: np.ndarray, scores: np.ndarray,
                 labels: np.ndarray) -> List[Dict]:
    """Official box result entries.

    Args:
        img_ids (np.ndarray): (N,) image id of each detection.
        bboxes (np.ndarray): (N, 4) xyxy boxes, original image pixels.
        scores (np.ndarray): (N,) scores.
        labels (np.ndarray): (N,) labels 0..12.

    Returns:
        list[dict]: ``image_id``, ``category_id`` (label + 1), ``bbox`` [x, y, w, h], ``score``.
    """
    return [
        dict(image_id=img_id, category_id=category, bbox=box, score=score)
        for img_id, category, box, score in zip(
            np.asarray(img_ids).tolist(), (np.asarray(labels, dtype=np.int64) + 1).tolist(),
            xyxy_to_xywh(bboxes).tolist(),
            np.asarray(scores, dtype=np.float64).tolist())
    ]


def keypoint_results(img_ids: np.ndarray,
                     scores: np.ndarray,
                     labels: np.ndarray,
                     own_keypoints: np.ndarray,
                     keypoint_slices: Slices = KEYPOINT_SLICES) -> List[Dict]:
    """Official keypoint result entries (882 numbers each, Python lists, for the result file).

    Args:
        img_ids (np.ndarray): (N,) image id of each detection.
        scores (np.ndarray): (N,) detection scores (used as the keypoint score, as CenterNet does).
        labels (np.ndarray): (N,) labels 0..12 (``category_id`` = label + 1).
        own_keypoints (np.ndarray): (N, S, 2) from :func:`gather_own_keypoints`.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        list[dict]: ``image_id``, ``category_id``, ``keypoints`` (3K numbers, 882 for
        DeepFashion2: ``x, y, 1`` on the category's slots, ``0, 0, 0`` elsewhere), ``score``.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    rows = expand_own_keypoints(own_keypoints, labels,
                                keypoint_slices).astype(np.float64).tolist()
    return [
        dict(image_id=img_id, category_id=category, keypoints=row, score=score)
        for img_id, category, row, score in zip(
            np.asarray(img_ids).tolist(), (labels + 1).tolist(), rows,
            np.asarray(scores, dtype=np.float64).tolist())
    ]


def category_keypoint_results(img_ids: np.ndarray,
                              scores: np.ndarray,
                              label: int,
                              own_keypoints: np.ndarray,
                              keypoint_slices: Slices = KEYPOINT_SLICES) -> List[Dict]:
    """Keypoint result entries of one category, on its own slots only (for the evaluation).

    Args:
        img_ids (np.ndarray): (N,) image id of each detection.
        scores (np.ndarray): (N,) detection scores.
        label (int): The detections' label.
        own_keypoints (np.ndarray): (N, S, 2) from :func:`gather_own_keypoints`.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        list[dict]: ``image_id``, ``category_id``, ``keypoints`` ((3 * n_slots,) float32 array,
        ``x, y, 1`` per slot of the category), ``score``.
    """
    start, end = keypoint_slices[label]
    own = np.asarray(own_keypoints, dtype=np.float32)[:, :end - start]
    rows = np.concatenate([own, np.ones_like(own[..., :1])],
                          axis=-1).reshape(len(own), 3 * (end - start))
    return [
        dict(image_id=img_id, category_id=label + 1, keypoints=row, score=score)
        for img_id, row, score in zip(
            np.asarray(img_ids).tolist(), rows,
            np.asarray(scores, dtype=np.float64).tolist())
    ]


def dump_json_list(entries: Iterable[Dict], path: str) -> int:
    """Write a JSON list one entry at a time (result files can be larger than memory).

    Args:
        entries (Iterable[dict]): JSON-serialisable dicts.
        path (str): Local output path.

    Returns:
        int: Number of entries written.
    """
    count = 0
    with open(path, 'w') as file:
        file.write('[')
        for entry in entries:
            file.write((', ' if count else '') + json.dumps(entry))
            count += 1
        file.write(']')
    return count


def check_category_ids(categories: Sequence[Dict],
                       source: str,
                       classes: Optional[Sequence[str]] = CLASSES,
                       num_classes: Optional[int] = None) -> None:
    """Check a COCO ``categories`` list names DeepFashion2's categories: ids in 1..13, each once,
    with its name (label = id - 1). A file may list only the categories it uses (mmpose's
    DeepFashion2 files do), as the dataset reads it.

    Args:
        categories (Sequence[dict]): The ``categories`` entries.
        source (str): What they come from (named in the error).
        classes (Sequence[str], optional): Expected names in label order; not checked when None.
        num_classes (int, optional): Expected categories; defaults to ``len(classes)`` (13 when
            ``classes`` is None).

    Raises:
        ValueError: When ids or names differ.
    """
    if num_classes is None:
        num_classes = len(CLASSES if classes is None else classes)
    ids = sorted(int(cat['id']) for cat in categories)
    if not ids or len(set(ids)) != len(ids) or not 1 <= ids[0] <= ids[-1] <= num_classes:
        raise ValueError(f'{source}: category ids {ids} are not distinct ids in the expected '
                         f'1..{num_classes}')
    if classes is not None:
        names = {int(cat['id']): cat.get('name') for cat in categories}
        wrong = [(i, names[i], classes[i - 1]) for i in ids if names[i] != classes[i - 1]]
        if wrong:
            raise ValueError(f'{source}: category names differ from the expected ones '
                             f'(id, found, expected): {wrong}')
