# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Bilinear initialisation of transposed convolutions (CenterNet's ``fill_up_weights``)."""
import math

import torch
from torch import Tensor, nn


def bilinear_upsample_kernel(kernel_size: int) -> Tensor:
    """The 2-D bilinear interpolation kernel a stride ``ceil(k / 2)`` transposed conv needs.

    Entry ``(i, j)`` is ``(1 - |i / f - c|) * (1 - |j / f - c|)`` with ``f = ceil(k / 2)`` and
    ``c = (2f - 1 - f % 2) / (2f)``, the formula of CenterNet's ``fill_up_weights``. For
    ``k = 4`` (2x upsampling) the 1-D profile is ``[0.25, 0.75, 0.75, 0.25]``.

    Args:
        kernel_size (int): Side length ``k`` of the square kernel, >= 1.

    Returns:
        Tensor: (k, k) float32 kernel.
    """
    if kernel_size < 1:
        raise ValueError(f'kernel_size must be >= 1, got {kernel_size}')
    factor = math.ceil(kernel_size / 2)
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) / factor - center).abs()
    return torch.outer(taps, taps).float()


def fill_bilinear_upsample_weights(upsample: nn.ConvTranspose2d) -> None:
    """Set every output channel of a transposed conv to the bilinear kernel, in place.

    Args:
        upsample (nn.ConvTranspose2d): Weight of shape (C_in, C_out / groups, k, k) with square
            kernels; the depthwise (``groups == channels``) layers of the DLA up-path have
            ``C_out / groups == 1``.
    """
    height, width = upsample.weight.shape[-2:]
    if height != width:
        raise ValueError(f'bilinear init needs a square kernel, got {height}x{width}')
    kernel = bilinear_upsample_kernel(height).to(upsample.weight)
    with torch.no_grad():
        upsample.weight.copy_(kernel.expand_as(upsample.weight))
