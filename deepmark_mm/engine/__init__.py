# Copyright (c) deepmark_mm contributors. All rights reserved.
from .hooks import ChannelsLastHook
from .optim_wrappers import BF16AutocastOptimWrapper

__all__ = ['ChannelsLastHook', 'BF16AutocastOptimWrapper']
