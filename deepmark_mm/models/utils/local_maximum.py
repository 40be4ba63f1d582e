# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Max-pool NMS of heatmaps (mmdet's ``get_local_maximum``) without ``max_pool2d``.

``F.max_pool2d`` runs ``max_pool2d_with_indices`` on the CPU, which also computes indices. A
``k x k`` max filter is separable, and ``max`` is exact, so the same map comes out of elementwise
maxima of shifted views along each axis (the window clipped at the border, as max-pool's
``-inf`` padding does): bit-identical to ``get_local_maximum``. Under tracing /
ONNX export mmdet's function runs instead (the filter writes into preallocated outputs, which a
tracer records as constants; ``max_pool2d`` exports as ``MaxPool``).
"""
import torch
from mmdet.models.utils import get_local_maximum
from torch import Tensor


def is_tracing() -> bool:
    """Whether the code runs under ``torch.jit`` tracing, ONNX export or ``torch.compile``."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or torch.compiler.is_exporting())


def _max_filter_1d(x: Tensor, kernel: int, dim: int) -> Tensor:
    """Max over the ``kernel`` (odd) neighbours along ``dim``, the window clipped at the border.

    Kernel 3 (the default) takes two passes: pairwise maxima ``p[i] = max(x[i], x[i + 1])``,
    then ``out[i] = max(p[i - 1], p[i])`` inside and ``p`` itself at both ends.
    """
    size = x.shape[dim]
    if kernel == 3 and size >= 3:
        pairs = torch.maximum(x.narrow(dim, 0, size - 1), x.narrow(dim, 1, size - 1))
        out = torch.empty_like(x)
        torch.maximum(pairs.narrow(dim, 0, size - 2), pairs.narrow(dim, 1, size - 2),
                      out=out.narrow(dim, 1, size - 2))
        out.narrow(dim, 0, 1).copy_(pairs.narrow(dim, 0, 1))
        out.narrow(dim, size - 1, 1).copy_(pairs.narrow(dim, size - 2, 1))
        return out
    out = x.clone()
    for shift in range(1, min(kernel // 2, size - 1) + 1):
        # out[i] = max(out[i], x[i + shift]) and out[i + shift] = max(out[i + shift], x[i])
        head, tail = out.narrow(dim, 0, size - shift), out.narrow(dim, shift, size - shift)
        torch.maximum(head, x.narrow(dim, shift, size - shift), out=head)
        torch.maximum(tail, x.narrow(dim, 0, size - shift), out=tail)
    return out


def max_filter(heat: Tensor, kernel: int = 3) -> Tensor:
    """``F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)`` for an odd kernel.

    Args:
        heat (Tensor): (B, C, H, W) map.
        kernel (int): Odd window side >= 1.

    Returns:
        Tensor: (B, C, H, W) the window maximum at each pixel, detached from autograd (it is
        computed in place into preallocated outputs; decoding only compares it).
    """
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f'max_filter takes an odd kernel >= 1, got {kernel}')
    heat = heat.detach()
    if kernel == 1:
        return heat.clone()
    return _max_filter_1d(_max_filter_1d(heat, kernel, 3), kernel, 2)


def local_maximum(heat: Tensor, kernel: int = 3) -> Tensor:
    """Heatmap kept where it is the maximum of its ``kernel x kernel`` window, 0 elsewhere.

    Same values as ``mmdet.models.utils.get_local_maximum`` (which it runs for even kernels and
    under tracing).

    Args:
        heat (Tensor): (B, C, H, W) heatmap (probabilities).
        kernel (int): Window side. Defaults to 3.

    Returns:
        Tensor: (B, C, H, W) ``heat * (window max == heat)``; the gradient flows through
        ``heat`` only, as with mmdet's (whose comparison mask has none either).
    """
    if kernel % 2 == 0 or kernel < 1 or is_tracing():
        return get_local_maximum(heat, kernel=kernel)
    return heat * (max_filter(heat, kernel) == heat).float()
