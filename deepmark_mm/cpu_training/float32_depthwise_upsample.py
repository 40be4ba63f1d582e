# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The DLA up-path's depthwise upsampling kept in float32 under CPU autocast."""
import torch
from mmdet.registry import MODELS
from torch import Tensor

from deepmark_mm.models.necks import DepthwiseUpsample


@MODELS.register_module()
class Float32DepthwiseUpsample(DepthwiseUpsample):
    """:class:`DepthwiseUpsample` that computes and returns float32 under CPU autocast (PyTorch
    has no fast bfloat16 CPU kernel for grouped transposed convs)."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Upsample (B, C, H, W) to (B, C, factor * H, factor * W)."""
        if x.device.type == 'cpu' and torch.is_autocast_enabled('cpu'):
            with torch.autocast('cpu', enabled=False):
                return super().forward(x.float())
        return super().forward(x)
