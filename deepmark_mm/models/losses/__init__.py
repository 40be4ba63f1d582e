# Copyright (c) deepmark_mm contributors. All rights reserved.
from .centernet_focal_loss import CenterNetFocalLoss, centernet_focal_loss, clamped_sigmoid

__all__ = ['CenterNetFocalLoss', 'centernet_focal_loss', 'clamped_sigmoid']
