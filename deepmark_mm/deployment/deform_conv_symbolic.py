# Copyright (c) deepmark_mm contributors. All rights reserved.
"""torchvision's ``deform_conv2d`` -> ONNX ``DeformConv`` (opset >= 19; same inputs, layout
and semantics; torchvision registers no symbolic for it)."""
import torch
from torch.onnx import symbolic_helper

DEFORM_CONV_OPSET = 19


@symbolic_helper.parse_args('v', 'v', 'v', 'v', 'v', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'b')
def _deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                   dilation_h, dilation_w, groups, offset_groups, use_mask):
    """``torchvision::deform_conv2d`` -> ONNX ``DeformConv`` (X, W, offset, B[, mask])."""
    inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
    return g.op('DeformConv', *inputs,
                dilations_i=[dilation_h, dilation_w],
                group_i=groups,
                offset_group_i=offset_groups,
                pads_i=[pad_h, pad_w, pad_h, pad_w],
                strides_i=[stride_h, stride_w])


def register_deform_conv_symbolic() -> None:
    """Let the TorchScript ONNX exporter write ``torchvision::deform_conv2d`` (idempotent)."""
    import torchvision  # noqa: F401  (registers the torchvision:: ops)
    torch.onnx.register_custom_op_symbolic('torchvision::deform_conv2d', _deform_conv2d,
                                           DEFORM_CONV_OPSET)
