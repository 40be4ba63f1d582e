# Copyright (c) deepmark_mm contributors. All rights reserved.
from .bilinear_upsample_init import bilinear_upsample_kernel, fill_bilinear_upsample_weights
from .depthwise_upsample import DepthwiseUpsample
from .dla_conv_block import DLAConvBlock
from .dla_up import DLAUp
from .dla_up_neck import DLAUpNeck
from .ida_up import IDAUp

__all__ = [
    'DepthwiseUpsample', 'DLAConvBlock', 'DLAUp', 'DLAUpNeck', 'IDAUp', 'bilinear_upsample_kernel',
    'fill_bilinear_upsample_weights'
]
