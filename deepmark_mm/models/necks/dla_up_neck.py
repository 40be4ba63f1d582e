# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's DLA up-path as an MMDetection neck, bottom-up in one module.

Pieces, in the order they build on each other: the bilinear initialisation of the upsampling
layers (CenterNet's ``fill_up_weights``), :class:`DepthwiseUpsample` (``IDAUp.up``),
:class:`DLAConvBlock` (CenterNet's ``DeformConv``: 3x3 DCNv2 or plain conv + BN + ReLU),
:class:`IDAUp` (iterative deep aggregation), :class:`DLAUp` (the pyramid of ``IDAUp`` stages) and
:class:`DLAUpNeck` (``DLASeg``'s up-path: ``DLAUp`` then a last ``IDAUp``).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from deepmark_mm.ops import ModulatedDeformConv2dPack


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


@MODELS.register_module()
class DepthwiseUpsample(nn.ConvTranspose2d):
    """A depthwise (``groups == channels``) transposed conv that upsamples by ``factor``.

    Kernel ``2 * factor``, stride ``factor``, padding ``factor // 2``, no bias: CenterNet's
    ``IDAUp.up`` layer, with the same parameters and state-dict keys as ``nn.ConvTranspose2d``.

    Registered in ``MODELS`` so :class:`DLAUpNeck` can build another upsampling layer with the
    same parameters from ``upsample_cfg`` (e.g. the CPU-training
    ``Float32DepthwiseUpsample`` of :mod:`deepmark_mm.cpu_training`).

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



class DLAConvBlock(BaseModule):
    """3x3 conv (deformable v2 or plain), then norm and ReLU.

    With ``use_dcn=True`` the conv is :class:`deepmark_mm.ops.ModulatedDeformConv2dPack` (DCNv2
    on torchvision, mmcv's parameter layout: its
    ``conv_offset`` predicts 18 offsets + 9 mask logits per position, zero-initialised, so a fresh
    block starts as a plain 3x3 conv). ``use_dcn=False`` uses ``nn.Conv2d`` with the same weight
    and bias shapes, for devices without deformable-conv kernels and for ONNX export.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        use_dcn (bool): Deformable (True) or plain (False) 3x3 conv.
        norm_cfg (dict): Norm layer config. Defaults to BN with PyTorch's momentum 0.1, as in
            CenterNet.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if use_dcn:
            self.conv = ModulatedDeformConv2dPack(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=1,
                padding=1,
                deform_groups=1,
                bias=True)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)
        self.use_dcn = use_dcn
        _, self.bn = build_norm_layer(norm_cfg, out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        return self.relu(self.bn(self.conv(x)))


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
        upsample_cfg (dict): The upsampling layer, built with ``channels`` and ``factor``.
        init_cfg (dict, optional): Initialisation config.
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
            upsample = MODELS.build(dict(upsample_cfg, channels=out_channels, factor=factor))
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


class DLAUp(BaseModule):
    """Hierarchical up-path over ``n`` levels with strides ``scales`` (relative).

    Stage ``i`` (``i = 0 .. n - 2``) is an :class:`IDAUp` rooted at level ``j = n - 2 - i``; it
    replaces the maps above level ``j`` by their aggregations at level ``j``'s resolution, so after
    stage ``i`` the last map has the resolution of level ``j``. The output collects the last map
    after every stage, finest first.

    Args:
        channels (Sequence[int]): Channels of the ``n`` input levels, finest first.
        scales (Sequence[int]): Relative stride of each level (e.g. ``1, 2, 4, 8``).
        use_dcn (bool): Deformable 3x3 convs.
        norm_cfg (dict): Norm layer config.
        upsample_cfg (dict): The upsampling layer of every :class:`IDAUp`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: Sequence[int],
                 scales: Sequence[int],
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 upsample_cfg: ConfigType = dict(type='DepthwiseUpsample'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(channels) != len(scales) or len(channels) < 2:
            raise ValueError(f'DLAUp needs >= 2 levels and one scale per level, got channels='
                             f'{list(channels)}, scales={list(scales)}')
        channels = [int(c) for c in channels]
        current_channels = list(channels)
        current_scales = [int(s) for s in scales]
        self.ida_stages = nn.ModuleList()
        for root in range(len(channels) - 2, -1, -1):
            up_factors = [s // current_scales[root] for s in current_scales[root:]]
            self.ida_stages.append(
                IDAUp(
                    channels[root],
                    current_channels[root:],
                    up_factors,
                    use_dcn=use_dcn,
                    norm_cfg=norm_cfg,
                    upsample_cfg=upsample_cfg))
            num_above = len(channels) - root - 1
            current_scales[root + 1:] = [current_scales[root]] * num_above
            current_channels[root + 1:] = [channels[root]] * num_above

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """Run the stages.

        Args:
            features (Sequence[Tensor]): ``n`` maps, level ``k`` of shape (B, channels[k], H_k,
                W_k).

        Returns:
            list[Tensor]: ``n`` maps, entry ``k`` of shape (B, channels[k], H_k, W_k): the fully
            aggregated map at level ``k``'s resolution (the last entry is the input's last map).
        """
        layers = list(features)
        if len(layers) != len(self.ida_stages) + 1:
            raise ValueError(f'DLAUp expects {len(self.ida_stages) + 1} maps, got {len(layers)}')
        outs = [layers[-1]]
        for stage_index, ida in enumerate(self.ida_stages):
            root = len(layers) - 2 - stage_index
            layers[root:] = ida(layers[root:])
            outs.insert(0, layers[-1])
        return outs


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
        upsample_cfg (dict): The depthwise upsampling layer (``MODELS``, built with ``channels``
            and ``factor``). Defaults to :class:`DepthwiseUpsample`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (16, 32, 64, 128, 256, 512),
                 first_level: int = 2,
                 last_level: int = 5,
                 out_channels: Optional[int] = None,
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
            norm_cfg=norm_cfg,
            upsample_cfg=upsample_cfg)
        num_fused = last_level - first_level
        self.ida_up = IDAUp(
            out_channels,
            in_channels[first_level:last_level], [2**i for i in range(num_fused)],
            use_dcn=use_dcn,
            norm_cfg=norm_cfg,
            upsample_cfg=upsample_cfg)

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
