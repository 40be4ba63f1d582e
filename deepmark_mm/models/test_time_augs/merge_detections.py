# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Merge the detections of several test views of one image (CenterNet ``merge_outputs``)."""
from typing import Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from deepmark_mm.ops import batched_nms

#: CenterNet's ``soft_nms_39(..., Nt=0.5, method=2)``: Gaussian decay exp(-IoU^2 / 0.5), pruned
#: below 0.001 (the IoU threshold is unused by the Gaussian rule).
DEFAULT_SOFT_NMS = dict(
    type='soft_nms', iou_threshold=0.5, sigma=0.5, min_score=0.001, method='gaussian')

#: Boxes are widened to at least this many pixels for the IoU (a zero-area box has IoU 0 / 0).
MIN_NMS_BOX_SIZE = 1e-2


def suppress_per_class(bboxes: Tensor, scores: Tensor, labels: Tensor, nms_cfg: dict) -> tuple:
    """:func:`deepmark_mm.ops.batched_nms` (``nms``, ``soft_nms`` within each class) on boxes
    widened to at least :data:`MIN_NMS_BOX_SIZE`.

    Args:
        bboxes (Tensor): (N, 4) xyxy.
        scores (Tensor): (N,).
        labels (Tensor): (N,) class of each box.
        nms_cfg (dict): ``type`` (a name of :data:`deepmark_mm.ops.NMS_OPS` or a
            callable with ``mmcv.ops.nms``' signature) and its keyword arguments.

    Returns:
        tuple[Tensor, Tensor]: ``keep`` (M,) indices into the inputs and their scores after
        suppression (M,), sorted by descending score.
    """
    boxes = bboxes.float()
    size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=MIN_NMS_BOX_SIZE)
    boxes = torch.cat([boxes[:, :2], boxes[:, :2] + size], dim=1)
    dets, keep = batched_nms(boxes, scores.float().contiguous(), labels, nms_cfg)
    return keep, dets[:, -1]


def merge_view_detections(view_instances: Sequence[InstanceData],
                          nms_cfg: Optional[dict] = DEFAULT_SOFT_NMS,
                          max_per_img: int = 100) -> InstanceData:
    """Concatenate the detections of one image's views, suppress per class, keep the best.

    Every field of the detections (``keypoints``, ``keypoint_scores``...) is carried with its
    box: the kept rows are indexed out of the concatenation. Soft-NMS replaces ``scores`` by the
    decayed scores.

    Args:
        view_instances (Sequence[:obj:`InstanceData`]): Per view ``bboxes`` (N_v, 4) xyxy in the
            original image, ``scores`` (N_v,), ``labels`` (N_v,) and any other per-detection
            fields, identical keys in every view.
        nms_cfg (dict, optional): ``type`` (``'soft_nms'``, ``'nms'``: :mod:`deepmark_mm.ops`)
            and its arguments, applied per class; None only sorts. Defaults to
            :data:`DEFAULT_SOFT_NMS`.
        max_per_img (int): Detections kept. Defaults to 100.

    Returns:
        :obj:`InstanceData`: At most ``max_per_img`` detections sorted by descending score.
    """
    if len(view_instances) == 0:
        raise ValueError('merge_view_detections needs at least one view')
    keys = [set(instances.keys()) for instances in view_instances]
    if any(k != keys[0] for k in keys):
        raise ValueError(f'views carry different detection fields: {[sorted(k) for k in keys]}')
    merged = InstanceData.cat(list(view_instances)) if len(view_instances) > 1 \
        else view_instances[0]
    if len(merged) == 0:
        return merged
    if nms_cfg is None:
        new_scores, keep = merged.scores.sort(descending=True, stable=True)
    else:
        keep, new_scores = suppress_per_class(merged.bboxes, merged.scores, merged.labels, nms_cfg)
    result = merged[keep[:max_per_img]]
    result.scores = new_scores[:max_per_img].to(merged.scores.dtype)
    return result
