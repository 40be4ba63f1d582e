# Copyright (c) deepmark_mm contributors. All rights reserved.
"""NMS and soft-NMS without mmcv's compiled ops, with mmcv's signatures and results.

:func:`nms` runs torchvision's kernel (CPU and CUDA); :func:`soft_nms` is torch code (torchvision
has no soft-NMS); :func:`batched_nms` applies either within each class. Each follows the corresponding ``mmcv.ops`` function
(same arguments, same ``(dets, keep)`` return, same selection order), so configs written for
mmcv (``dict(type='soft_nms', ...)``) run unchanged.
"""
from typing import Callable, Dict, Tuple

import torch
import torchvision
from torch import Tensor

#: mmcv's soft-NMS decay rules by name.
SOFT_NMS_METHODS = {'naive': 0, 'linear': 1, 'gaussian': 2}


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int = 0,
        score_threshold: float = 0., max_num: int = -1) -> Tuple[Tensor, Tensor]:
    """Hard NMS (``mmcv.ops.nms``): drop boxes whose IoU with a kept, higher box exceeds a bound.

    Args:
        boxes (Tensor): (N, 4) xyxy.
        scores (Tensor): (N,).
        iou_threshold (float): Boxes with IoU > this with a kept box are dropped.
        offset (int): 0 only (mmcv's legacy ``+1`` box size is not supported).
        score_threshold (float): Boxes scoring at most this are dropped first.
        max_num (int): Keep at most this many (-1: all).

    Returns:
        tuple[Tensor, Tensor]: ``dets`` (K, 5) kept boxes and scores, ``keep`` (K,) their input
        indices, by descending score.
    """
    if offset != 0:
        raise ValueError(f'nms: offset={offset} is not supported (torchvision boxes use offset 0)')
    candidates = torch.arange(len(boxes), device=boxes.device)
    if score_threshold > 0:
        candidates = candidates[scores > score_threshold]
    keep = candidates[torchvision.ops.nms(boxes[candidates].float(),
                                          scores[candidates].float(), float(iou_threshold))]
    if max_num > 0:
        keep = keep[:max_num]
    return torch.cat([boxes[keep], scores[keep, None]], dim=1), keep


def _pairwise_iou(box: Tensor, boxes: Tensor, offset: int) -> Tensor:
    """IoU of one (4,) box with (M, 4) boxes, computed as mmcv's soft-NMS does (float32)."""
    top_left = torch.maximum(box[:2], boxes[:, :2])
    bottom_right = torch.minimum(box[2:], boxes[:, 2:])
    inter = (bottom_right - top_left + offset).clamp(min=0).prod(dim=1)
    area = (box[2:] - box[:2] + offset).prod()
    areas = (boxes[:, 2:] - boxes[:, :2] + offset).prod(dim=1)
    return inter / (area + areas - inter)


def soft_nms(boxes: Tensor, scores: Tensor, iou_threshold: float = 0.3, sigma: float = 0.5,
             min_score: float = 1e-3, method: str = 'linear',
             offset: int = 0) -> Tuple[Tensor, Tensor]:
    """Soft-NMS (``mmcv.ops.soft_nms``, Bodla et al. 2017): decay, do not drop, overlapping boxes.

    Each step selects the highest remaining box and multiplies the scores of all the others by
    a weight of their IoU with it: ``naive`` 0 if IoU >= ``iou_threshold`` else 1, ``linear``
    ``1 - IoU`` if IoU >= ``iou_threshold`` else 1, ``gaussian`` ``exp(-IoU^2 / sigma)``. Boxes
    whose score falls below ``min_score`` are removed by swapping in the last remaining box, as
    mmcv's kernel does, so ties are broken in the same order. The decay of one step is one
    vectorised operation over the remaining boxes.

    Args:
        boxes (Tensor): (N, 4) xyxy.
        scores (Tensor): (N,).
        iou_threshold (float): IoU bound of the naive and linear rules.
        sigma (float): Gaussian rule's variance.
        min_score (float): Boxes below this after a decay are removed.
        method (str): ``'naive'``, ``'linear'`` or ``'gaussian'``.
        offset (int): Added to box sizes (mmcv's legacy ``+1`` convention when 1).

    Computed in float64 for float64 boxes, else in float32 (as mmcv).

    Returns:
        tuple[Tensor, Tensor]: ``dets`` (K, 5) kept boxes with decayed scores and ``keep`` (K,)
        their input indices, in selection order (non-increasing score).
    """
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f'soft_nms: method {method!r} is not one of {sorted(SOFT_NMS_METHODS)}')
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=boxes.device)
    device = boxes.device
    work_dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    rows = boxes.detach().cpu().to(work_dtype)
    current = scores.detach().cpu().to(work_dtype).clone()
    order = list(range(len(rows)))  # position -> input index
    num_left = len(order)
    kept_boxes, kept_scores, kept = [], [], []
    position = 0
    while position < num_left:
        rest = torch.tensor(order[position:num_left])
        best = position + int(current[rest].argmax())  # first maximum, as mmcv's scan
        order[position], order[best] = order[best], order[position]
        chosen = order[position]
        kept.append(chosen)
        kept_boxes.append(rows[chosen])
        kept_scores.append(current[chosen].clone())
        others = torch.tensor(order[position + 1:num_left], dtype=torch.long)
        if len(others):
            iou = _pairwise_iou(rows[chosen], rows[others], offset)
            if method == 'gaussian':
                weight = torch.exp(-(iou * iou) / sigma)
            elif method == 'linear':
                weight = torch.where(iou >= iou_threshold, 1 - iou, torch.ones_like(iou))
            else:
                weight = (iou < iou_threshold).float()
            current[others] *= weight
            # mmcv removes a box that fell below min_score by moving the last box into its slot
            # (and re-checking that one): replay those swaps to keep its order.
            below = (current[others] < min_score).tolist()
            low = dict(zip(order[position + 1:num_left], below))
            slot = position + 1
            while slot < num_left:
                if low[order[slot]]:
                    order[slot] = order[num_left - 1]
                    num_left -= 1
                else:
                    slot += 1
        position += 1
    keep = torch.tensor(kept, dtype=torch.long)
    dets = torch.cat([torch.stack(kept_boxes), torch.stack(kept_scores)[:, None]], dim=1)
    return dets.to(device=device, dtype=boxes.dtype), keep.to(device)


#: The suppression ops a config may name in ``nms_cfg['type']``.
NMS_OPS: Dict[str, Callable[..., Tuple[Tensor, Tensor]]] = {'nms': nms, 'soft_nms': soft_nms}


def get_nms_op(op: object) -> Callable[..., Tuple[Tensor, Tensor]]:
    """The op named by ``nms_cfg['type']`` (a name of :data:`NMS_OPS`, or a callable)."""
    if callable(op):
        return op
    if isinstance(op, str) and op in NMS_OPS:
        return NMS_OPS[op]
    raise ValueError(f'nms_cfg type {op!r} is not an op of deepmark_mm.ops '
                     f'(one of {sorted(NMS_OPS)} or a callable)')


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, nms_cfg: dict,
                class_agnostic: bool = False) -> Tuple[Tensor, Tensor]:
    """Suppression within each class (``mmcv.ops.batched_nms`` without its coordinate shift).

    Classes are separated by grouping, not by shifting each class's boxes apart (mmcv's and
    torchvision's trick), which assumes non-negative boxes and loses float precision on large
    shifts.

    Args:
        boxes (Tensor): (N, 4) xyxy.
        scores (Tensor): (N,).
        idxs (Tensor): (N,) class of each box.
        nms_cfg (dict): ``type`` (``'nms'`` default, ``'soft_nms'``) and the op's arguments;
            ``max_num`` caps the result.
        class_agnostic (bool): Ignore ``idxs``.

    Returns:
        tuple[Tensor, Tensor]: ``dets`` (K, 5) boxes and (possibly decayed) scores, ``keep``
        (K,) input indices, by descending score.
    """
    cfg = dict(nms_cfg)
    op = get_nms_op(cfg.pop('type', 'nms'))
    max_num = cfg.pop('max_num', -1)
    cfg.pop('split_thr', None)
    if class_agnostic:
        idxs = torch.zeros_like(idxs)
    if len(boxes) == 0:
        return boxes.new_zeros((0, 5)), torch.zeros(0, dtype=torch.long, device=boxes.device)
    kept, kept_scores = [], []
    for label in idxs.unique():
        members = (idxs == label).nonzero().flatten()
        dets, keep = op(boxes[members], scores[members].contiguous(), **cfg)
        kept.append(members[keep.to(members.device)])
        kept_scores.append(dets[:, -1].to(device=scores.device, dtype=scores.dtype))
    keep, new_scores = torch.cat(kept), torch.cat(kept_scores)
    order = new_scores.argsort(descending=True, stable=True)
    keep, new_scores = keep[order], new_scores[order]
    if max_num > 0:
        keep, new_scores = keep[:max_num], new_scores[:max_num]
    return torch.cat([boxes[keep], new_scores[:, None]], dim=1), keep
