# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Modulated deformable convolution (DCNv2) on torchvision's ``deform_conv2d`` kernels.

The modules keep ``mmcv.ops``' parameter layout exactly, so checkpoints of mmcv's
``ModulatedDeformConv2dPack`` (and CenterNet checkpoints converted to it) load unchanged:
``weight`` (C_out, C_in / groups, kh, kw), ``bias`` (C_out,), and ``conv_offset`` predicting
``3 * deform_groups * kh * kw`` channels whose first two thirds are the offsets as (dy, dx) pairs
per kernel tap and whose last third are mask logits (mask = sigmoid). torchvision runs on CPU and
CUDA and has ONNX export at opset 19 (:mod:`deepmark_mm.deployment.deform_conv_symbolic`).
"""
import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

IntPair = Union[int, Tuple[int, int]]


def modulated_deform_conv2d(x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor,
                            bias: Optional[Tensor], stride: IntPair = 1, padding: IntPair = 0,
                            dilation: IntPair = 1) -> Tensor:
    """DCNv2 (``mmcv.ops.modulated_deform_conv2d`` without ``groups`` / ``deform_groups``
    arguments: both follow from the shapes of ``weight`` and ``offset``).

    Args:
        x (Tensor): (B, C_in, H, W).
        offset (Tensor): (B, 2 * deform_groups * kh * kw, H_out, W_out), (dy, dx) per tap.
        mask (Tensor): (B, deform_groups * kh * kw, H_out, W_out) modulation in [0, 1].
        weight (Tensor): (C_out, C_in / groups, kh, kw).
        bias (Tensor, optional): (C_out,).

    Returns:
        Tensor: (B, C_out, H_out, W_out).
    """
    return deform_conv2d(x, offset, weight, bias, stride=_pair(stride), padding=_pair(padding),
                         dilation=_pair(dilation), mask=mask)


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 layer taking its offsets and mask as inputs (``mmcv.ops.ModulatedDeformConv2d``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int | tuple[int, int]): Kernel size.
        stride, padding, dilation (int | tuple[int, int]): As in :class:`torch.nn.Conv2d`.
        groups (int): Channel groups of the convolution.
        deform_groups (int): Channel groups sharing one offset / mask field.
        bias (bool): Learn a bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1,
                 groups: int = 1, deform_groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'channels {in_channels} -> {out_channels} are not divisible by '
                             f'groups={groups}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups,
                                               *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.init_weights()

    def init_weights(self) -> None:
        """mmcv's initialisation: weight U(-1/sqrt(n), 1/sqrt(n)), n = C_in * kh * kw; bias 0."""
        bound = 1. / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.weight.data.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.data.zero_()

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """(B, C_in, H, W), offsets, mask -> (B, C_out, H_out, W_out)."""
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride,
                                       self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, dilation={self.dilation}, '
                f'groups={self.groups}, deform_groups={self.deform_groups}, '
                f'bias={self.bias is not None}')


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """DCNv2 layer predicting its own offsets and mask (``mmcv.ops.ModulatedDeformConv2dPack``).

    ``conv_offset`` is zero-initialised, so a fresh layer computes a plain convolution (offsets
    0, mask 0.5). Construction draws random numbers in mmcv's order, so a seeded model starts
    from the same weights as with mmcv.

    Args:
        As :class:`ModulatedDeformConv2d`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        kernel_taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(self.in_channels, self.deform_groups * 3 * kernel_taps,
                                     kernel_size=self.kernel_size, stride=self.stride,
                                     padding=self.padding, dilation=self.dilation, bias=True)
        self.init_weights()

    def init_weights(self) -> None:
        """The layer's own initialisation, then zero offsets and mask logits."""
        super().init_weights()
        if hasattr(self, 'conv_offset'):
            self.conv_offset.weight.data.zero_()
            self.conv_offset.bias.data.zero_()

    def offsets_and_mask(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, C_in, H, W) -> offsets (B, 2 * G * kh * kw, H_out, W_out), mask (B, G * kh * kw,
        H_out, W_out): mmcv's split of ``conv_offset`` (dy, dx thirds, then mask logits)."""
        offset_y, offset_x, mask_logits = torch.chunk(self.conv_offset(x), 3, dim=1)
        return torch.cat((offset_y, offset_x), dim=1), torch.sigmoid(mask_logits)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """(B, C_in, H, W) -> (B, C_out, H_out, W_out)."""
        offset, mask = self.offsets_and_mask(x)
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride,
                                       self.padding, self.dilation)
