# Copyright (c) deepmark_mm contributors. All rights reserved.
"""3x3 (modulated deformable) conv + BN + ReLU, CenterNet's ``DeformConv`` of the DLA up-path."""
from mmcv.cnn import build_norm_layer
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from deepmark_mm.ops import ModulatedDeformConv2dPack


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
