# Copyright (c) deepmark_mm contributors. All rights reserved.
from .timm_backbone import TimmBackbone

__all__ = ['TimmBackbone']
