# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The compiled ops deepmark_mm uses, on torchvision kernels and torch code (no mmcv ``_ext``)."""
from .modulated_deform_conv import (ModulatedDeformConv2d, ModulatedDeformConv2dPack,
                                    modulated_deform_conv2d)
from .nms import NMS_OPS, SOFT_NMS_METHODS, batched_nms, get_nms_op, nms, soft_nms

__all__ = [
    'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack', 'modulated_deform_conv2d', 'NMS_OPS',
    'SOFT_NMS_METHODS', 'batched_nms', 'get_nms_op', 'nms', 'soft_nms'
]
