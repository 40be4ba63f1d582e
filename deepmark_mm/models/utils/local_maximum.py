# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Max-pool NMS of heatmaps for the dense top-K, and the tracing check that selects it."""
import torch
from mmdet.models.utils import get_local_maximum
from torch import Tensor


def is_tracing() -> bool:
    """Whether the code runs under ``torch.jit`` tracing, ONNX export or ``torch.compile``."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or torch.compiler.is_exporting())


def local_maximum(heat: Tensor, kernel: int = 3) -> Tensor:
    """(B, C, H, W) heatmap kept where it is its ``kernel x kernel`` window's maximum, else 0:
    mmdet's ``get_local_maximum`` (a module attribute that benchmarks can swap)."""
    return get_local_maximum(heat, kernel=kernel)
