# Copyright (c) deepmark_mm contributors. All rights reserved.
from .hooks import ChannelsLastHook

__all__ = ['ChannelsLastHook']
