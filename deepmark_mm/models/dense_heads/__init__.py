# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_head import DeepMarkHead

__all__ = ['DeepMarkHead']
