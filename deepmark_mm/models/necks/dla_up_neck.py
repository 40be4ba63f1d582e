# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's DLA up-path (``DLASeg``: ``DLAUp`` then a last ``IDAUp``) as an MMDetection neck."""
import math
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from deepmark_mm.ops import ModulatedDeformConv2dPack


def bilinear_upsample_kernel(kernel_size: int) -> Tensor:
    """(k, k) float32 bilinear kernel of a stride ``ceil(k / 2)`` transposed conv (CenterNet's
    ``fill_up_weights``; ``k = 4`` has the 1-D profile ``[0.25, 0.75, 0.75, 0.25]``)."""
    factor = math.ceil(kernel_size / 2)
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) / factor - center).abs()
    return torch.outer(taps, taps).float()


@MODELS.register_module()
class DepthwiseUpsample(nn.ConvTranspose2d):
    """Depthwise transposed conv upsampling ``channels`` maps by ``factor`` >= 1 (CenterNet's
    ``IDAUp.up``: kernel ``2 * factor``, stride ``factor``, padding ``factor // 2``, no bias);
    registered so that ``upsample_cfg`` can name a variant."""

    def __init__(self, channels: int, factor: int) -> None:
        if factor < 1:
            raise ValueError(f'DepthwiseUpsample: factor must be >= 1, got {factor}')
        super().__init__(channels, channels, kernel_size=2 * factor, stride=factor,
                         padding=factor // 2, output_padding=0, groups=channels, bias=False)


class DLAConvBlock(BaseModule):
    """3x3 conv, norm, ReLU (CenterNet's ``DeformConv``): DCNv2 (zero-initialised offsets), or
    with ``use_dcn=False`` an ``nn.Conv2d`` of the same weight and bias shapes."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if use_dcn:
            self.conv = ModulatedDeformConv2dPack(in_channels, out_channels, kernel_size=3,
                                                  stride=1, padding=1, deform_groups=1, bias=True)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)
        _, self.bn = build_norm_layer(norm_cfg, out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class IDAUp(BaseModule):
    """Fold maps ``x_1 .. x_n`` into ``x_0``'s resolution, one level at a time.

    ``out[0] = x_0`` and ``out[k] = node_k(upsample_k(projection_k(x_k)) + out[k - 1])``, with
    3x3 blocks ``projection_k`` / ``node_k`` and a bilinear-initialised ``upsample_k``.

    Args:
        out_channels (int): Channels of every aggregated map, ``in_channels[0]``.
        in_channels (Sequence[int]): Channels of ``x_0 .. x_n``.
        up_factors (Sequence[int]): Resolution of ``x_k`` relative to ``out[k - 1]``
            (``up_factors[0]`` is unused).
        use_dcn, norm_cfg, upsample_cfg: As :class:`DLAUpNeck`'s.
    """

    def __init__(self,
                 out_channels: int,
                 in_channels: Sequence[int],
                 up_factors: Sequence[int],
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 upsample_cfg: ConfigType = dict(type='DepthwiseUpsample'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.projections = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        self.nodes = nn.ModuleList()
        for channels, factor in zip(in_channels[1:], up_factors[1:]):
            factor = int(factor)
            self.projections.append(
                DLAConvBlock(channels, out_channels, use_dcn=use_dcn, norm_cfg=norm_cfg))
            upsample = MODELS.build(dict(upsample_cfg, channels=out_channels, factor=factor))
            with torch.no_grad():  # every channel bilinear (CenterNet's fill_up_weights)
                kernel = bilinear_upsample_kernel(upsample.weight.shape[-1])
                upsample.weight.copy_(kernel.to(upsample.weight).expand_as(upsample.weight))
            self.upsamples.append(upsample)
            self.nodes.append(
                DLAConvBlock(out_channels, out_channels, use_dcn=use_dcn, norm_cfg=norm_cfg))

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """``x_0 .. x_n`` (B, in_channels[k], H_k, W_k) -> ``out[0] .. out[n]`` (B,
        out_channels, H_0, W_0), ``out[0]`` being ``x_0`` itself."""
        outs = [features[0]]
        for feature, projection, upsample, node in zip(features[1:], self.projections,
                                                       self.upsamples, self.nodes):
            outs.append(node(upsample(projection(feature)) + outs[-1]))
        return outs


class DLAUp(BaseModule):
    """Hierarchical up-path over ``n`` levels with relative strides ``scales``: stage ``i`` is an
    :class:`IDAUp` rooted at level ``n - 2 - i`` that replaces the maps above it by their
    aggregations at its resolution; the output collects the last map after every stage.

    Args:
        channels (Sequence[int]): Channels of the ``n`` input levels, finest first.
        scales (Sequence[int]): Relative stride of each level (e.g. ``1, 2, 4, 8``).
        use_dcn, norm_cfg, upsample_cfg: As :class:`DLAUpNeck`'s.
    """

    def __init__(self,
                 channels: Sequence[int],
                 scales: Sequence[int],
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 upsample_cfg: ConfigType = dict(type='DepthwiseUpsample'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        channels = [int(c) for c in channels]
        current_channels = list(channels)
        current_scales = [int(s) for s in scales]
        self.ida_stages = nn.ModuleList()
        for root in range(len(channels) - 2, -1, -1):
            up_factors = [s // current_scales[root] for s in current_scales[root:]]
            self.ida_stages.append(IDAUp(channels[root], current_channels[root:], up_factors,
                                         use_dcn=use_dcn, norm_cfg=norm_cfg,
                                         upsample_cfg=upsample_cfg))
            num_above = len(channels) - root - 1
            current_scales[root + 1:] = [current_scales[root]] * num_above
            current_channels[root + 1:] = [channels[root]] * num_above

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """``n`` maps (B, channels[k], H_k, W_k) -> ``n`` maps of the same shapes, entry ``k``
        fully aggregated at level ``k``'s resolution (the last one is the input's last map)."""
        layers = list(features)
        outs = [layers[-1]]
        for stage_index, ida in enumerate(self.ida_stages):
            root = len(layers) - 2 - stage_index
            layers[root:] = ida(layers[root:])
            outs.insert(0, layers[-1])
        return outs


@MODELS.register_module()
class DLAUpNeck(BaseModule):
    """Fuse DLA trunk levels into one map of ``in_channels[first_level]`` channels at that
    level's stride (CenterNet's DLASeg: :class:`DLAUp`, then an :class:`IDAUp`).

    Args:
        in_channels (Sequence[int]): Channels of every trunk level the backbone returns, finest
            first (DLA-34: ``(16, 32, 64, 128, 256, 512)``).
        first_level (int): Index of the finest level used; the output stride is
            ``2 ** first_level`` when level ``k`` has stride ``2 ** k``.
        last_level (int): Levels ``first_level .. last_level - 1`` of the ``DLAUp`` output are
            fused by the final ``IDAUp`` (CenterNet: 5).
        use_dcn (bool): DCNv2 3x3 convs (CenterNet); False gives plain 3x3 convs.
        norm_cfg (dict): Norm layer config. Defaults to BN, momentum 0.1 (CenterNet).
        upsample_cfg (dict): The upsampling layer (``MODELS``, built with ``channels`` and
            ``factor``). Defaults to :class:`DepthwiseUpsample`.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (16, 32, 64, 128, 256, 512),
                 first_level: int = 2,
                 last_level: int = 5,
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 upsample_cfg: ConfigType = dict(type='DepthwiseUpsample'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = [int(c) for c in in_channels]
        if not 0 <= first_level < last_level <= len(in_channels):
            raise ValueError(f'DLAUpNeck needs 0 <= first_level < last_level <= '
                             f'{len(in_channels)}, got first_level={first_level}, '
                             f'last_level={last_level}')
        self.in_channels = in_channels
        self.first_level = first_level
        self.last_level = last_level
        self.out_channels = in_channels[first_level]  # the finest map passes through
        used_channels = in_channels[first_level:]
        layer_cfg = dict(use_dcn=use_dcn, norm_cfg=norm_cfg, upsample_cfg=upsample_cfg)
        self.dla_up = DLAUp(used_channels, [2**i for i in range(len(used_channels))], **layer_cfg)
        self.ida_up = IDAUp(self.out_channels, in_channels[first_level:last_level],
                            [2**i for i in range(last_level - first_level)], **layer_cfg)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor]:
        """Levels (B, in_channels[k], H / 2**k, W / 2**k) -> ((B, out_channels,
        H / 2**first_level, W / 2**first_level),)."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'DLAUpNeck expects {len(self.in_channels)} levels '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        pyramid = self.dla_up(inputs[self.first_level:])
        fused = self.ida_up(pyramid[:self.last_level - self.first_level])
        return (fused[-1], )
