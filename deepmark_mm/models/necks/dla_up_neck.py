# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's DLA-34 up-path (``DLAUp`` + ``IDAUp``) as an MMDetection neck."""
from typing import Optional, Sequence, Tuple

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from .dla_up import DLAUp
from .ida_up import IDAUp


@MODELS.register_module()
class DLAUpNeck(BaseModule):
    """Fuse DLA trunk levels into one map at the stride of ``first_level`` (CenterNet's DLASeg).

    With the DLA-34 trunk (levels 0..5, channels 16..512, strides 1..32), ``first_level=2`` and
    ``last_level=5``: :class:`DLAUp` aggregates levels 2..5 (strides 4..32), then an
    :class:`IDAUp` over its three finest outputs gives 64 channels at stride 4.

    Args:
        in_channels (Sequence[int]): Channels of every trunk level the backbone returns, finest
            first (DLA-34: ``(16, 32, 64, 128, 256, 512)``).
        first_level (int): Index of the finest level used; the output stride is
            ``2 ** first_level`` when level ``k`` has stride ``2 ** k``.
        last_level (int): Levels ``first_level .. last_level - 1`` of the ``DLAUp`` output are
            fused by the final ``IDAUp`` (CenterNet: 5).
        out_channels (int, optional): Must equal ``in_channels[first_level]`` (the finest map
            passes through unprojected); defaults to it.
        use_dcn (bool): Modulated deformable 3x3 convs (CenterNet's ``DeformConv``); False gives
            plain 3x3 convs for CPU speed, devices without DCN kernels and ONNX export.
        norm_cfg (dict): Norm layer config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (16, 32, 64, 128, 256, 512),
                 first_level: int = 2,
                 last_level: int = 5,
                 out_channels: Optional[int] = None,
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = [int(c) for c in in_channels]
        if not 0 <= first_level < last_level <= len(in_channels):
            raise ValueError(f'DLAUpNeck needs 0 <= first_level < last_level <= '
                             f'{len(in_channels)}, got first_level={first_level}, '
                             f'last_level={last_level}')
        if out_channels is None:
            out_channels = in_channels[first_level]
        if out_channels != in_channels[first_level]:
            raise ValueError(f'DLAUpNeck: out_channels ({out_channels}) must equal '
                             f'in_channels[first_level] ({in_channels[first_level]})')
        self.in_channels = in_channels
        self.first_level = first_level
        self.last_level = last_level
        self.out_channels = out_channels
        self.use_dcn = use_dcn
        used_channels = in_channels[first_level:]
        self.dla_up = DLAUp(
            used_channels, [2**i for i in range(len(used_channels))],
            use_dcn=use_dcn,
            norm_cfg=norm_cfg)
        num_fused = last_level - first_level
        self.ida_up = IDAUp(
            out_channels,
            in_channels[first_level:last_level], [2**i for i in range(num_fused)],
            use_dcn=use_dcn,
            norm_cfg=norm_cfg)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        """Fuse the trunk levels.

        Args:
            inputs (Sequence[Tensor]): One map per entry of ``in_channels``, level ``k`` of shape
                (B, in_channels[k], H / 2**k, W / 2**k), H and W divisible by
                ``2 ** (len(in_channels) - 1)``.

        Returns:
            tuple[Tensor]: One map (B, out_channels, H / 2**first_level, W / 2**first_level).
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'DLAUpNeck expects {len(self.in_channels)} levels '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        pyramid = self.dla_up(inputs[self.first_level:])
        fused = self.ida_up(pyramid[:self.last_level - self.first_level])
        return (fused[-1], )
