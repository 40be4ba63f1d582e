# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The DLA up-path's depthwise transposed convolution, kept in float32 under CPU autocast."""
import torch
from torch import Tensor, nn


class DepthwiseUpsample(nn.ConvTranspose2d):
    """A depthwise (``groups == channels``) transposed conv that upsamples by ``factor``.

    Kernel ``2 * factor``, stride ``factor``, padding ``factor // 2``, no bias: CenterNet's
    ``IDAUp.up`` layer, with the same parameters and state-dict keys as ``nn.ConvTranspose2d``.

    PyTorch has no fast bfloat16 CPU kernel for grouped transposed convolutions, so when CPU
    autocast is on, the layer runs in float32 and returns float32 (the next conv casts back);
    elsewhere it is a plain ``ConvTranspose2d``.

    Args:
        channels (int): Input and output channels.
        factor (int): Upsampling factor, >= 1.
    """

    def __init__(self, channels: int, factor: int) -> None:
        if factor < 1:
            raise ValueError(f'DepthwiseUpsample: factor must be >= 1, got {factor}')
        super().__init__(
            channels,
            channels,
            kernel_size=2 * factor,
            stride=factor,
            padding=factor // 2,
            output_padding=0,
            groups=channels,
            bias=False)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Upsample (B, C, H, W) to (B, C, factor * H, factor * W)."""
        if x.device.type == 'cpu' and torch.is_autocast_enabled('cpu'):
            with torch.autocast('cpu', enabled=False):
                return super().forward(x.float())
        return super().forward(x)
