# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Iterative deep aggregation (CenterNet's ``IDAUp``): merge progressively coarser maps upward."""
from typing import List, Sequence

from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from .bilinear_upsample_init import fill_bilinear_upsample_weights
from .depthwise_upsample import DepthwiseUpsample
from .dla_conv_block import DLAConvBlock


class IDAUp(BaseModule):
    """Fold maps ``x_1 .. x_n`` into ``x_0``'s resolution, one level at a time.

    ``out[0] = x_0`` and, for ``k >= 1``,
    ``out[k] = node_k(upsample_k(projection_k(x_k)) + out[k - 1])``, where ``projection_k`` maps
    ``in_channels[k]`` to ``out_channels``, ``upsample_k`` is a depthwise transposed conv with
    stride ``up_factors[k]`` initialised to bilinear interpolation, and ``node_k`` is a 3x3 block.

    Args:
        out_channels (int): Channels of every aggregated map; must equal ``in_channels[0]``
            because ``x_0`` is used as is.
        in_channels (Sequence[int]): Channels of ``x_0 .. x_n``.
        up_factors (Sequence[int]): Resolution of ``x_k`` relative to ``out[k - 1]``
            (``up_factors[0]`` is unused and conventionally 1).
        use_dcn (bool): Deformable 3x3 convs in projections and nodes.
        norm_cfg (dict): Norm layer config of the conv blocks.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 out_channels: int,
                 in_channels: Sequence[int],
                 up_factors: Sequence[int],
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(up_factors):
            raise ValueError(f'IDAUp: {len(in_channels)} in_channels but {len(up_factors)} '
                             f'up_factors')
        self.projections = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        self.nodes = nn.ModuleList()
        for channels, factor in zip(in_channels[1:], up_factors[1:]):
            factor = int(factor)
            self.projections.append(
                DLAConvBlock(channels, out_channels, use_dcn=use_dcn, norm_cfg=norm_cfg))
            upsample = DepthwiseUpsample(out_channels, factor)
            fill_bilinear_upsample_weights(upsample)
            self.upsamples.append(upsample)
            self.nodes.append(
                DLAConvBlock(out_channels, out_channels, use_dcn=use_dcn, norm_cfg=norm_cfg))

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """Aggregate.

        Args:
            features (Sequence[Tensor]): ``x_0 .. x_n``, ``x_k`` of shape
                (B, in_channels[k], H_k, W_k) with ``H_k * prod(up_factors[1:k+1]) == H_0``.

        Returns:
            list[Tensor]: ``out[0] .. out[n]``, ``out[k]`` of shape (B, out_channels, H_0', W_0')
            where ``out[0]`` is ``x_0`` itself.
        """
        if len(features) != len(self.nodes) + 1:
            raise ValueError(f'IDAUp expects {len(self.nodes) + 1} maps, got {len(features)}')
        outs = [features[0]]
        for feature, projection, upsample, node in zip(features[1:], self.projections,
                                                       self.upsamples, self.nodes):
            outs.append(node(upsample(projection(feature)) + outs[-1]))
        return outs
