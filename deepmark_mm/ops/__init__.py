# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The mmcv ops deepmark_mm uses (on mmcv-lite they run on :mod:`deepmark_mm.mmcv_ext_stub`),
plus class-wise NMS by grouping and DCNv2 layers (mmcv's parameters) whose forward calls
torchvision directly, so that they export to ONNX ``DeformConv``."""
from typing import Callable, Dict, Tuple

import torch
from mmcv import ops as mmcv_ops
from mmcv.ops import nms, soft_nms
from torch import Tensor
from torchvision.ops import deform_conv2d

__all__ = [
    'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack', 'NMS_OPS', 'batched_nms', 'nms',
    'soft_nms'
]

#: The suppression ops a config may name in ``nms_cfg['type']`` (else a callable).
NMS_OPS: Dict[str, Callable[..., Tuple[Tensor, Tensor]]] = {'nms': nms, 'soft_nms': soft_nms}


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, nms_cfg: dict,
                class_agnostic: bool = False) -> Tuple[Tensor, Tensor]:
    """Suppression of ``boxes`` (N, 4) xyxy, ``scores`` (N,) within each class ``idxs`` (N,),
    by grouping (``mmcv.ops.batched_nms`` shifts each class's boxes apart, which assumes
    non-negative boxes and loses precision on large shifts).

    ``nms_cfg``: ``type`` (``'nms'`` default, ``'soft_nms'``, a callable), the op's arguments and
    ``max_num`` (caps the result). Returns ``dets`` (K, 5) boxes and (possibly decayed) scores and
    ``keep`` (K,) input indices, by descending score.
    """
    cfg = dict(nms_cfg)
    name = cfg.pop('type', 'nms')
    op = NMS_OPS.get(name) if isinstance(name, str) else name
    if not callable(op):
        raise ValueError(f'nms_cfg type {name!r} is not an op of deepmark_mm.ops '
                         f'(one of {sorted(NMS_OPS)} or a callable)')
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


class ModulatedDeformConv2d(mmcv_ops.ModulatedDeformConv2d):
    """``mmcv.ops.ModulatedDeformConv2d`` on torchvision's ``deform_conv2d``."""

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """DCNv2 of ``x`` (B, C_in, H, W) with ``offset`` (B, 2 * G * kh * kw, H_out, W_out)
        (dy, dx per tap) and ``mask`` (B, G * kh * kw, H_out, W_out) in [0, 1] -> (B, C_out,
        H_out, W_out)."""
        return deform_conv2d(x.type_as(offset), offset, self.weight.type_as(offset), self.bias,
                             self.stride, self.padding, self.dilation, mask.type_as(offset))


class ModulatedDeformConv2dPack(mmcv_ops.ModulatedDeformConv2dPack, ModulatedDeformConv2d):
    """``mmcv.ops.ModulatedDeformConv2dPack`` on torchvision: ``conv_offset`` (zero-initialised:
    a fresh layer is half a plain convolution) predicts dy, dx thirds then mask logits."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        offset_y, offset_x, mask_logits = self.conv_offset(x).chunk(3, dim=1)
        return ModulatedDeformConv2d.forward(self, x, torch.cat((offset_y, offset_x), dim=1),
                                             mask_logits.sigmoid())
