# Copyright (c) deepmark_mm contributors. All rights reserved.
from .dla_up_neck import (DepthwiseUpsample, DLAConvBlock, DLAUp, DLAUpNeck, IDAUp,
                          bilinear_upsample_kernel)

__all__ = [
    'DepthwiseUpsample', 'DLAConvBlock', 'DLAUp', 'DLAUpNeck', 'IDAUp', 'bilinear_upsample_kernel'
]
