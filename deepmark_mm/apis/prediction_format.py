# Copyright (c) deepmark_mm contributors. All rights reserved.
"""What the DeepMark inferencers return and write.

A *prediction* is one image's result, a plain dict (arrays in original image pixels, detections
sorted by descending score)::

    img_id           int, the id used in the official result files
    img_path         str | None (None for array inputs)
    ori_shape        (h, w) of the input image
    bboxes           (N, 4) float32 xyxy
    scores           (N,) float32
    labels           list[str], N category names (``CLASSES``, e.g. 'short_sleeved_shirt')
    label_ids        (N,) int64, 0..12 (= category_id - 1)
    keypoints        (N, 294, 2) float32, filled on each garment's own slots, 0 elsewhere
    keypoint_scores  (N, 294) float32, filled on each garment's own slots, 0 elsewhere

Files written for ``out_dir`` (see :class:`PredictionWriter`):

* ``out_dir/preds/<image stem>.json``: the readable per-item format of
  :func:`prediction_to_readable` (category, box, score, the category's own landmarks with their
  mmpose names, x, y, score);
* ``out_dir/results.bbox.json`` and ``out_dir/results.keypoints.json``: the official DeepFashion2
  result format, written by :class:`~deepmark_mm.evaluation.DeepFashion2Metric` with
  ``format_only=True`` (the same code and output as ``tools/test.py`` with ``format_only``).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData

from deepmark_mm.datasets.deepfashion2_metainfo import (CLASSES, KEYPOINT_SLICES, NUM_CLASSES,
                                                        NUM_KEYPOINTS, category_keypoint_mask,
                                                        keypoint_names)
from deepmark_mm.evaluation import DeepFashion2Metric

#: Keys of a prediction dict, in order.
PREDICTION_KEYS = ('img_id', 'img_path', 'ori_shape', 'bboxes', 'scores', 'labels', 'label_ids',
                   'keypoints', 'keypoint_scores')

#: Prefix of the official result files inside ``out_dir``.
RESULT_FILE_PREFIX = 'results'


def _numpy(value, dtype) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def instances_to_prediction(pred_instances: InstanceData,
                            img_id: int,
                            img_path: Optional[str],
                            ori_shape: Sequence[int],
                            score_thr: float = 0.0) -> Dict:
    """One image's ``pred_instances`` (original pixels) as a prediction dict (module docstring).

    Args:
        pred_instances (InstanceData): ``bboxes`` (N, 4), ``scores`` (N,), ``labels`` (N,),
            ``keypoints`` (N, 294, 2), ``keypoint_scores`` (N, 294).
        img_id (int): Image id.
        img_path (str, optional): Image path (None for arrays).
        ori_shape (Sequence[int]): (h, w) of the original image.
        score_thr (float): Detections with ``score >= score_thr`` are kept.

    Returns:
        dict: The prediction, detections by descending score; landmarks and landmark scores are
        zeroed outside each garment's own slots.

    Raises:
        ValueError: On missing fields, wrong shapes or labels outside 0..12 (names the image).
    """
    where = img_path or f'image {img_id}'
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
    if keypoints.shape != (num, NUM_KEYPOINTS, 2) or keypoint_scores.shape != (num, NUM_KEYPOINTS):
        raise ValueError(f'{where}: keypoints {keypoints.shape} / keypoint_scores '
                         f'{keypoint_scores.shape}, expected ({num}, {NUM_KEYPOINTS}, 2) / '
                         f'({num}, {NUM_KEYPOINTS})')
    if num and (label_ids.min() < 0 or label_ids.max() >= NUM_CLASSES):
        raise ValueError(f'{where}: labels {np.unique(label_ids).tolist()} outside '
                         f'0..{NUM_CLASSES - 1}')
    keep = np.flatnonzero(scores >= score_thr)
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    label_ids = label_ids[keep]
    own = category_keypoint_mask()[label_ids]  # (M, 294)
    return dict(
        img_id=int(img_id),
        img_path=img_path,
        ori_shape=(int(ori_shape[0]), int(ori_shape[1])),
        bboxes=bboxes[keep],
        scores=scores[keep],
        labels=[CLASSES[label] for label in label_ids.tolist()],
        label_ids=label_ids,
        keypoints=np.where(own[..., None], keypoints[keep], 0).astype(np.float32),
        keypoint_scores=np.where(own, keypoint_scores[keep], 0).astype(np.float32))


def prediction_to_instances(prediction: Dict) -> InstanceData:
    """A prediction dict back as ``pred_instances`` (torch tensors), e.g. for drawing."""
    instances = InstanceData()
    instances.bboxes = torch.from_numpy(np.asarray(prediction['bboxes'], np.float32))
    instances.scores = torch.from_numpy(np.asarray(prediction['scores'], np.float32))
    instances.labels = torch.from_numpy(np.asarray(prediction['label_ids'], np.int64))
    instances.keypoints = torch.from_numpy(np.asarray(prediction['keypoints'], np.float32))
    instances.keypoint_scores = torch.from_numpy(
        np.asarray(prediction['keypoint_scores'], np.float32))
    return instances


def prediction_to_readable(prediction: Dict, slot_names: Optional[Sequence[str]] = None) -> Dict:
    """The readable per-item format of one image.

    Args:
        prediction (dict): See the module docstring.
        slot_names (Sequence[str], optional): The 294 landmark names; mmpose's DeepFashion2 names
            (``'sss_kpt1'`` ...) when None.

    Returns:
        dict: ``img_id``, ``img_path``, ``height``, ``width`` and ``items``: per garment
        ``category`` (name), ``category_id`` (1..13), ``bbox`` [x1, y1, x2, y2], ``score`` and
        ``landmarks``, the category's own slots in order, each ``name``, ``slot`` (0..293),
        ``x``, ``y``, ``score``.
    """
    names = list(slot_names) if slot_names is not None else keypoint_names()
    items: List[Dict] = []
    for index, label in enumerate(np.asarray(prediction['label_ids']).tolist()):
        start, end = KEYPOINT_SLICES[label]
        coords = np.asarray(prediction['keypoints'][index][start:end], np.float64).tolist()
        slot_scores = np.asarray(prediction['keypoint_scores'][index][start:end],
                                 np.float64).tolist()
        items.append(
            dict(
                category=CLASSES[label],
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
    """Writes the files of a run (see the module docstring) for predictions added one by one.

    Args:
        out_dir (str): Output folder (created).
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.pred_dir = osp.join(out_dir, 'preds')
        os.makedirs(self.pred_dir, exist_ok=True)
        self._metric = DeepFashion2Metric(
            format_only=True, outfile_prefix=osp.join(out_dir, RESULT_FILE_PREFIX))
        self.readable_files: List[str] = []

    def add(self, prediction: Dict, file_stem: str) -> str:
        """Write the readable JSON of one image and keep it for the official files.

        Args:
            prediction (dict): See the module docstring.
            file_stem (str): Output name without extension.

        Returns:
            str: Path of the readable JSON.
        """
        path = osp.join(self.pred_dir, file_stem + '.json')
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(prediction_to_readable(prediction), file, indent=1)
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
        """Write the official result files of every added image.

        Returns:
            dict[str, str]: ``'bbox'`` / ``'keypoints'`` -> path.
        """
        self._metric.compute_metrics(self._metric.results)
        self._metric.results.clear()
        prefix = osp.join(self.out_dir, RESULT_FILE_PREFIX)
        return dict(bbox=f'{prefix}.bbox.json', keypoints=f'{prefix}.keypoints.json')
