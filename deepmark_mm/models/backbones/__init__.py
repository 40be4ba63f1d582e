# Copyright (c) deepmark_mm contributors. All rights reserved.
from .timm_dla import TimmDLA

__all__ = ['TimmDLA']
