# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Our ground truth and predictions in the layout of the official DeepFashion2
``deepfashion2_to_coco.py`` and result examples (keypoints ``x, y, 1`` on the detection's own
slots, ``0, 0, 0`` elsewhere)."""
import json
from typing import Dict, Iterable, Iterator, List, Sequence

import numpy as np
from mmengine.visualization.utils import tensor2ndarray

from mmdet.structures.bbox import get_box_tensor
from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES

#: ``[start, end)`` slots per category (a landmark set's metainfo ``keypoint_slices``).
Slices = Sequence[Sequence[int]]
VISIBLE = 2


def to_numpy(value, dtype) -> np.ndarray:
    """Tensor / mmdet box structure / array-like -> numpy array of ``dtype``."""
    return np.asarray(tensor2ndarray(get_box_tensor(value)), dtype=dtype)


def build_coco_ground_truth(gt_dicts: Sequence[Dict],
                            classes: Sequence[str] = CLASSES,
                            keypoint_slices: Slices = KEYPOINT_SLICES) -> Dict:
    """An in-memory COCO dataset from the dataset's raw instances.

    Args:
        gt_dicts (Sequence[dict]): Per image ``img_id``, ``width``, ``height`` and ``anns``: raw
            instances with ``bbox`` [x1, y1, x2, y2], ``bbox_label``, ``keypoints`` (K, 2),
            ``keypoints_visible`` (K,) in {0, 1, 2} and optional ``ignore_flag`` (``iscrowd``).
        classes (Sequence[str]): Category names in label order.
        keypoint_slices (Sequence[Sequence[int]]): ``[start, end)`` per category.

    Returns:
        dict: ``images``, ``annotations`` (``bbox`` xywh, ``area`` w * h, ``keypoints`` a (3K,)
        float64 array) and ``categories`` (id = label + 1); ValueError on a bad instance.
    """
    num_keypoints = max(end for _, end in keypoint_slices)
    shapes = (('bbox', 4), ('keypoints', (num_keypoints, 2)), ('keypoints_visible', num_keypoints))
    images, annotations = [], []
    for gt in gt_dicts:
        img_id = gt['img_id']
        images.append(dict(id=img_id, width=int(gt['width']), height=int(gt['height']),
                           file_name=''))
        for index, instance in enumerate(gt['anns']):
            what = f'image {img_id}: instance {index}'
            try:
                bbox, keypoints, visible = (np.asarray(instance[key], np.float64).reshape(shape)
                                            for key, shape in shapes)
                label = int(instance['bbox_label'])
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f'{what} needs bbox (4,), bbox_label, keypoints '
                                 f'({num_keypoints}, 2) and keypoints_visible ({num_keypoints},) '
                                 f'({error!r})') from error
            if not 0 <= label < len(keypoint_slices):
                raise ValueError(f'{what} bbox_label {label} is outside '
                                 f'0..{len(keypoint_slices) - 1}')
            start, end = keypoint_slices[label]
            if not np.isin(visible, (0, 1, VISIBLE)).all():
                raise ValueError(f'{what} keypoints_visible holds {np.unique(visible).tolist()}, '
                                 'expected values in {0, 1, 2}')
            if (visible[:start] > 0).any() or (visible[end:] > 0).any():
                raise ValueError(f'{what} ({classes[label]}) labels slots outside its category '
                                 f'slice {tuple(keypoint_slices[label])}')
            if not (np.isfinite(bbox).all() and np.isfinite(keypoints[visible > 0]).all()):
                raise ValueError(f'{what} has non-finite box or landmark coordinates')
            xywh = np.concatenate([bbox[:2], bbox[2:] - bbox[:2]])
            keypoints = np.where(visible[:, None] > 0, keypoints, 0.0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=label + 1,
                bbox=xywh.tolist(), area=float(xywh[2] * xywh[3]),
                iscrowd=int(instance.get('ignore_flag', 0)), num_keypoints=int((visible > 0).sum()),
                keypoints=np.concatenate([keypoints, visible[:, None]], axis=1).ravel()))
    categories = [dict(id=label + 1, name=name, supercategory='clothes')
                  for label, name in enumerate(classes)]
    return dict(images=images, annotations=annotations, categories=categories)


def category_keypoint_annotations(annotations: Sequence[Dict], label: int,
                                  visible_only: bool = False,
                                  keypoint_slices: Slices = KEYPOINT_SLICES) -> List[Dict]:
    """One category's checked ground truth cut to its own slots ((3 * n_slots,) ``keypoints``);
    ``visible_only`` drops occluded slots and recounts ``num_keypoints``."""
    start, end = keypoint_slices[label]
    sliced = []
    for ann in annotations:
        own = np.array(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
        own = own if len(own) == end - start else own[start:end]  # own slots or all K
        num_labelled = ann['num_keypoints']
        if visible_only:
            own[own[:, 2] != VISIBLE] = 0.0
            num_labelled = int((own[:, 2] > 0).sum())
        sliced.append({**ann, 'keypoints': own.ravel(), 'num_keypoints': num_labelled})
    return sliced


def own_keypoints(keypoints: np.ndarray, labels: np.ndarray, keypoint_slices: Slices) -> np.ndarray:
    """Each detection's own-category slots: (N, K, 2) -> (N, S, 2), S the longest slice (shorter
    slices padded with copies of their last slot)."""
    starts, ends = np.asarray(keypoint_slices, dtype=np.int64).T.reshape(2, -1, 1)
    slots = np.minimum(starts + np.arange((ends - starts).max()), ends - 1)  # (C, S)
    return keypoints[np.arange(len(labels))[:, None], slots[labels]]


def top_k_per_category(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Increasing indices of the ``k`` best-scored detections of each label, ties broken as
    pycocotools breaks them (stable order on ``-score``)."""
    order = np.lexsort((-scores.astype(np.float64), labels))  # stable
    sorted_labels = labels[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_labels, sorted_labels, side='left')
    return np.sort(order[rank < k]).astype(np.int64)


def bbox_entries(img_ids: np.ndarray, bboxes: np.ndarray, scores: np.ndarray,
                 labels: np.ndarray) -> List[Dict]:
    """Official box results from (N,) image ids, (N, 4) xyxy boxes, (N,) scores and labels."""
    bboxes = bboxes.astype(np.float64)
    xywh = np.concatenate([bboxes[:, :2], bboxes[:, 2:] - bboxes[:, :2]], axis=1)
    return [dict(image_id=i, category_id=c, bbox=b, score=s) for i, c, b, s in zip(
        img_ids.tolist(), (labels + 1).tolist(), xywh.tolist(), scores.astype(np.float64).tolist())]


def category_keypoint_entries(img_ids: np.ndarray, scores: np.ndarray, label: int,
                              own: np.ndarray, keypoint_slices: Slices) -> List[Dict]:
    """Keypoint results of one category on its own slots; ``own`` (N, S, 2)."""
    start, end = keypoint_slices[label]
    own = own[:, :end - start]
    rows = np.concatenate([own, np.ones_like(own[..., :1])], -1).reshape(
        len(own), 3 * (end - start))
    return [dict(image_id=i, category_id=label + 1, keypoints=row, score=s)
            for i, row, s in zip(img_ids.tolist(), rows, scores.astype(np.float64).tolist())]


def keypoint_entries(img_ids: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                     own: np.ndarray, keypoint_slices: Slices) -> Iterator[Dict]:
    """Official keypoint results (K * 3 numbers as lists, for the result file), one at a time."""
    num_keypoints = max(end for _, end in keypoint_slices)
    for img_id, score, label, points in zip(img_ids.tolist(), scores.astype(np.float64).tolist(),
                                            labels.tolist(), own):
        start, end = keypoint_slices[label]
        row = np.zeros((num_keypoints, 3))
        row[start:end, :2], row[start:end, 2] = points[:end - start], 1.0
        yield dict(image_id=img_id, category_id=label + 1, keypoints=row.ravel().tolist(),
                   score=score)


def dump_json_list(entries: Iterable[Dict], path: str) -> None:
    """Write a JSON list entry by entry (``json.dump``'s bytes, without holding all in memory)."""
    with open(path, 'w') as file:
        file.write('[')
        for index, entry in enumerate(entries):
            file.write((', ' if index else '') + json.dumps(entry))
        file.write(']')
