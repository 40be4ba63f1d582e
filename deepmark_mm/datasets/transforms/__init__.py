# Copyright (c) deepmark_mm contributors. All rights reserved.
from .center_affine import (CenterAffine, RandomCenterAffine, center_scale_affine_matrix,
                            centernet_border, resize_paste_warp)
from .color_jitter import CenterNetColorJitter, color_jitter_matrix
from .formatting import PackDeepMarkInputs, contiguous_image
from .loading import LoadDeepFashion2Annotations, LoadImageFromFileOrSkip, TooManyBadImagesError

__all__ = [
    'CenterAffine', 'CenterNetColorJitter', 'LoadDeepFashion2Annotations',
    'LoadImageFromFileOrSkip', 'PackDeepMarkInputs', 'TooManyBadImagesError', 'RandomCenterAffine',
    'center_scale_affine_matrix', 'centernet_border', 'color_jitter_matrix', 'contiguous_image',
    'resize_paste_warp'
]
