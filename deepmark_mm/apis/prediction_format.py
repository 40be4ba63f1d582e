# Copyright (c) deepmark_mm contributors. All rights reserved.
"""What :class:`~deepmark_mm.apis.DeepMarkInferencer` returns: one plain dict per image.

A *prediction* (arrays in original image pixels, detections sorted by descending score; ``K``
slots and the class names are the landmark set's, DeepFashion2's: 294 and 13)::

    img_id           int, the id used in the official result files
    img_path         str | None (None for array inputs)
    ori_shape        (h, w) of the input image
    bboxes           (N, 4) float32 xyxy
    scores           (N,) float32
    labels           list[str], N category names (e.g. 'short_sleeved_shirt')
    label_ids        (N,) int64, 0..12 (= category_id - 1)
    keypoints        (N, K, 2) float32, filled on each garment's own slots, 0 elsewhere
    keypoint_scores  (N, K) float32, filled on each garment's own slots, 0 elsewhere
"""
from typing import Dict, List, Mapping

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from deepmark_mm.datasets.keypoint_metainfo import category_keypoint_mask
from deepmark_mm.evaluation.metrics.deepfashion2_coco import to_numpy

#: Keys of a prediction dict, in order.
PREDICTION_KEYS = ('img_id', 'img_path', 'ori_shape', 'bboxes', 'scores', 'labels', 'label_ids',
                   'keypoints', 'keypoint_scores')

#: ``pred_instances`` field -> (prediction key, dtype).
_FIELDS = dict(bboxes=('bboxes', np.float32), scores=('scores', np.float32),
               labels=('label_ids', np.int64), keypoints=('keypoints', np.float32),
               keypoint_scores=('keypoint_scores', np.float32))


def select_detections(pred_instances: InstanceData, score_thr: float, keypoint_meta: Mapping,
                      where: str) -> InstanceData:
    """The detections with ``score >= score_thr`` by descending score (stable), as CPU tensors,
    their landmarks and landmark scores zeroed outside each garment's own slots; ValueError
    (naming ``where``, the image) on missing fields, wrong shapes or labels outside the classes.
    """
    num_classes, num_keypoints = len(keypoint_meta['classes']), keypoint_meta['num_keypoints']
    missing = [key for key in _FIELDS if key not in pred_instances]
    if missing:
        raise ValueError(f'{where}: pred_instances lacks {missing}; is this a DeepMark model?')
    arrays = {name: to_numpy(pred_instances.get(name), dtype) for name, (_, dtype)
              in _FIELDS.items()}
    num = arrays['scores'].size
    scores, label_ids = arrays['scores'].reshape(num), arrays['labels'].reshape(num)
    keypoints, keypoint_scores = arrays['keypoints'], arrays['keypoint_scores']
    if keypoints.shape != (num, num_keypoints, 2) or keypoint_scores.shape != (num, num_keypoints):
        raise ValueError(f'{where}: keypoints {keypoints.shape} / keypoint_scores '
                         f'{keypoint_scores.shape}, expected ({num}, {num_keypoints}, 2) / '
                         f'({num}, {num_keypoints})')
    if num and (label_ids.min() < 0 or label_ids.max() >= num_classes):
        raise ValueError(f'{where}: labels {np.unique(label_ids).tolist()} outside '
                         f'0..{num_classes - 1}')
    keep = np.flatnonzero(scores >= score_thr)
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    own = category_keypoint_mask(num_keypoints, keypoint_meta['keypoint_slices'])[label_ids[keep]]
    kept = dict(
        bboxes=arrays['bboxes'].reshape(num, 4)[keep],
        scores=scores[keep],
        labels=label_ids[keep],
        keypoints=np.where(own[..., None], keypoints[keep], 0).astype(np.float32),
        keypoint_scores=np.where(own, keypoint_scores[keep], 0).astype(np.float32))
    return InstanceData(**{name: torch.from_numpy(value) for name, value in kept.items()})


def sample_to_prediction(sample: DetDataSample, classes: List[str]) -> Dict:
    """A sample with :func:`select_detections`' ``pred_instances`` as a prediction dict."""
    prediction = dict(
        img_id=int(sample.metainfo['img_id']),
        img_path=sample.metainfo.get('img_path'),
        ori_shape=tuple(int(side) for side in sample.metainfo['ori_shape'][:2]))
    prediction.update({key: to_numpy(sample.pred_instances.get(name), dtype)
                       for name, (key, dtype) in _FIELDS.items()})
    prediction['labels'] = [classes[label] for label in prediction['label_ids'].tolist()]
    return {key: prediction[key] for key in PREDICTION_KEYS}


def prediction_to_instances(prediction: Dict) -> InstanceData:
    """A prediction dict back as ``pred_instances`` (torch tensors), e.g. for drawing."""
    return InstanceData(**{name: torch.from_numpy(np.asarray(prediction[key], dtype))
                           for name, (key, dtype) in _FIELDS.items()})


def prediction_to_readable(prediction: Dict, keypoint_meta: Mapping) -> Dict:
    """The readable per-item format of one image (``out_dir/preds/<stem>.json``): ``img_id``,
    ``img_path``, ``height``, ``width`` and ``items``: per garment ``category``, ``category_id``,
    ``bbox`` xyxy, ``score`` and ``landmarks`` (own slots: ``name`` (``keypoint_names`` or the
    slot number), ``slot``, ``x``, ``y``, ``score``)."""
    names = list(keypoint_meta.get('keypoint_names')
                 or [str(i) for i in range(keypoint_meta['num_keypoints'])])
    items: List[Dict] = []
    for index, label in enumerate(np.asarray(prediction['label_ids']).tolist()):
        start, end = keypoint_meta['keypoint_slices'][label]
        coords = np.asarray(prediction['keypoints'][index][start:end], np.float64).tolist()
        slot_scores = np.asarray(prediction['keypoint_scores'][index][start:end],
                                 np.float64).tolist()
        items.append(
            dict(
                category=keypoint_meta['classes'][label],
                category_id=label + 1,
                bbox=np.asarray(prediction['bboxes'][index], np.float64).tolist(),
                score=float(prediction['scores'][index]),
                landmarks=[
                    dict(name=names[slot], slot=slot, x=xy[0], y=xy[1], score=score)
                    for slot, xy, score in zip(range(start, end), coords, slot_scores)
                ]))
    height, width = prediction['ori_shape']
    return dict(img_id=prediction['img_id'], img_path=prediction['img_path'], height=height,
                width=width, items=items)
