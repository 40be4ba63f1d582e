# Copyright (c) deepmark_mm contributors. All rights reserved.
"""What the DeepMark inferencers return and write.

A *prediction* is one image's result, a plain dict (arrays in original image pixels, detections
sorted by descending score), here with DeepFashion2's numbers; any landmark set's metainfo
(``landmark_meta``: ``classes``, ``keypoint_slices``, optional ``keypoint_names``) may be given,
DeepFashion2's is the default::

    img_id           int, the id used in the official result files
    img_path         str | None (None for array inputs)
    ori_shape        (h, w) of the input image
    bboxes           (N, 4) float32 xyxy
    scores           (N,) float32
    labels           list[str], N category names (``CLASSES``, e.g. 'short_sleeved_shirt')
    label_ids        (N,) int64, 0..12 (= category_id - 1)
    keypoints        (N, 294, 2) float32, filled on each garment's own slots, 0 elsewhere
    keypoint_scores  (N, 294) float32, filled on each garment's own slots, 0 elsewhere
"""
import json
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmengine.visualization.utils import tensor2ndarray

from deepmark_mm.datasets.landmark_metainfo import (category_keypoint_mask,
                                                    resolve_landmark_metainfo)
from deepmark_mm.evaluation import DeepFashion2Metric

#: Keys of a prediction dict, in order.
PREDICTION_KEYS = ('img_id', 'img_path', 'ori_shape', 'bboxes', 'scores', 'labels', 'label_ids',
                   'keypoints', 'keypoint_scores')

#: Prefix of the official result files inside ``out_dir``.
RESULT_FILE_PREFIX = 'results'


def _numpy(value, dtype) -> np.ndarray:
    return np.asarray(tensor2ndarray(value), dtype=dtype)


def instances_to_prediction(pred_instances: InstanceData,
                            img_id: int,
                            img_path: Optional[str],
                            ori_shape: Sequence[int],
                            score_thr: float = 0.0,
                            landmark_meta: Optional[Mapping] = None) -> Dict:
    """One image's ``pred_instances`` (original pixels) as a prediction dict (module docstring).

    Args:
        pred_instances (InstanceData): ``bboxes`` (N, 4), ``scores`` (N,), ``labels`` (N,),
            ``keypoints`` (N, 294, 2), ``keypoint_scores`` (N, 294).
        img_id (int): Image id.
        img_path (str, optional): Image path (None for arrays).
        ori_shape (Sequence[int]): (h, w) of the original image.
        score_thr (float): Detections with ``score >= score_thr`` are kept.
        landmark_meta (Mapping, optional): The landmark set's metainfo; DeepFashion2's when None.

    Returns:
        dict: The prediction, detections by descending score; landmarks and landmark scores are
        zeroed outside each garment's own slots.

    Raises:
        ValueError: On missing fields, wrong shapes or labels outside 0..12 (names the image).
    """
    where = img_path or f'image {img_id}'
    meta = resolve_landmark_metainfo(landmark_meta)
    classes, num_keypoints = meta['classes'], meta['num_keypoints']
    missing = [
        key for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores')
        if key not in pred_instances
    ]
    if missing:
        raise ValueError(f'{where}: pred_instances lacks {missing}; is this a DeepMark model?')
    scores = _numpy(pred_instances.scores, np.float32).reshape(-1)
    num = len(scores)
    bboxes = _numpy(pred_instances.bboxes, np.float32).reshape(num, 4)
    label_ids = _numpy(pred_instances.labels, np.int64).reshape(num)
    keypoints = _numpy(pred_instances.keypoints, np.float32)
    keypoint_scores = _numpy(pred_instances.keypoint_scores, np.float32)
    if keypoints.shape != (num, num_keypoints, 2) or keypoint_scores.shape != (num, num_keypoints):
        raise ValueError(f'{where}: keypoints {keypoints.shape} / keypoint_scores '
                         f'{keypoint_scores.shape}, expected ({num}, {num_keypoints}, 2) / '
                         f'({num}, {num_keypoints})')
    if num and (label_ids.min() < 0 or label_ids.max() >= len(classes)):
        raise ValueError(f'{where}: labels {np.unique(label_ids).tolist()} outside '
                         f'0..{len(classes) - 1}')
    keep = np.flatnonzero(scores >= score_thr)
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    label_ids = label_ids[keep]
    own = category_keypoint_mask(num_keypoints, meta['keypoint_slices'])[label_ids]  # (M, K)
    return dict(
        img_id=int(img_id),
        img_path=img_path,
        ori_shape=(int(ori_shape[0]), int(ori_shape[1])),
        bboxes=bboxes[keep],
        scores=scores[keep],
        labels=[classes[label] for label in label_ids.tolist()],
        label_ids=label_ids,
        keypoints=np.where(own[..., None], keypoints[keep], 0).astype(np.float32),
        keypoint_scores=np.where(own, keypoint_scores[keep], 0).astype(np.float32))


def prediction_to_instances(prediction: Dict) -> InstanceData:
    """A prediction dict back as ``pred_instances`` (torch tensors), e.g. for drawing."""
    fields = dict(bboxes=('bboxes', np.float32), scores=('scores', np.float32),
                  labels=('label_ids', np.int64), keypoints=('keypoints', np.float32),
                  keypoint_scores=('keypoint_scores', np.float32))
    return InstanceData(**{name: torch.from_numpy(np.asarray(prediction[key], dtype))
                           for name, (key, dtype) in fields.items()})


def prediction_to_readable(prediction: Dict,
                           slot_names: Optional[Sequence[str]] = None,
                           landmark_meta: Optional[Mapping] = None) -> Dict:
    """The readable per-item format of one image.

    Args:
        prediction (dict): See the module docstring.
        slot_names (Sequence[str], optional): The K landmark names; the metainfo's
            ``keypoint_names`` (DeepFashion2: mmpose's ``'sss_kpt1'`` ...) or the slot numbers
            when None.
        landmark_meta (Mapping, optional): The landmark set's metainfo; DeepFashion2's when None.

    Returns:
        dict: ``img_id``, ``img_path``, ``height``, ``width`` and ``items``: per garment
        ``category`` (name), ``category_id`` (1..13), ``bbox`` [x1, y1, x2, y2], ``score`` and
        ``landmarks``, the category's own slots in order, each ``name``, ``slot`` (0..293),
        ``x``, ``y``, ``score``.
    """
    meta = resolve_landmark_metainfo(landmark_meta)
    if slot_names is None:
        slot_names = meta.get('keypoint_names') or [str(i) for i in range(meta['num_keypoints'])]
    names = list(slot_names)
    items: List[Dict] = []
    for index, label in enumerate(np.asarray(prediction['label_ids']).tolist()):
        start, end = meta['keypoint_slices'][label]
        coords = np.asarray(prediction['keypoints'][index][start:end], np.float64).tolist()
        slot_scores = np.asarray(prediction['keypoint_scores'][index][start:end],
                                 np.float64).tolist()
        items.append(
            dict(
                category=meta['classes'][label],
                category_id=label + 1,
                bbox=np.asarray(prediction['bboxes'][index], np.float64).tolist(),
                score=float(prediction['scores'][index]),
                landmarks=[
                    dict(name=names[slot], slot=slot, x=xy[0], y=xy[1], score=score)
                    for slot, xy, score in zip(range(start, end), coords, slot_scores)
                ]))
    height, width = prediction['ori_shape']
    return dict(
        img_id=prediction['img_id'],
        img_path=prediction['img_path'],
        height=height,
        width=width,
        items=items)


class PredictionWriter:
    """Writes a run's files for predictions added one by one: ``out_dir/preds/<stem>.json``
    (:func:`prediction_to_readable`) and ``out_dir/results.{bbox,keypoints}.json``, the official
    DeepFashion2 format, by :class:`~deepmark_mm.evaluation.DeepFashion2Metric` (``format_only``).

    Args:
        out_dir (str): Output folder (created).
        landmark_meta (Mapping, optional): The landmark set's metainfo; DeepFashion2's when None.
    """

    def __init__(self, out_dir: str, landmark_meta: Optional[Mapping] = None) -> None:
        self.out_dir = out_dir
        self.pred_dir = osp.join(out_dir, 'preds')
        os.makedirs(self.pred_dir, exist_ok=True)
        self._metric = DeepFashion2Metric(
            format_only=True, outfile_prefix=osp.join(out_dir, RESULT_FILE_PREFIX))
        self._metric.dataset_meta = landmark_meta
        self.landmark_meta = self._metric.landmark_meta
        self.readable_files: List[str] = []

    def add(self, prediction: Dict, file_stem: str) -> str:
        """Write the readable JSON ``<file_stem>.json`` of one image, keep the prediction for
        the official files, and return the JSON's path."""
        path = osp.join(self.pred_dir, file_stem + '.json')
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(prediction_to_readable(prediction, landmark_meta=self.landmark_meta), file,
                      indent=1)
        self.readable_files.append(path)
        self._metric.process({}, [
            dict(
                img_id=prediction['img_id'],
                ori_shape=prediction['ori_shape'],
                pred_instances=dict(
                    bboxes=prediction['bboxes'],
                    scores=prediction['scores'],
                    labels=prediction['label_ids'],
                    keypoints=prediction['keypoints']))
        ])
        return path

    def close(self) -> Dict[str, str]:
        """Write the official result files of every added image: ``'bbox'`` / ``'keypoints'``
        -> path."""
        self._metric.compute_metrics(self._metric.results)
        self._metric.results.clear()
        prefix = osp.join(self.out_dir, RESULT_FILE_PREFIX)
        return dict(bbox=f'{prefix}.bbox.json', keypoints=f'{prefix}.keypoints.json')
