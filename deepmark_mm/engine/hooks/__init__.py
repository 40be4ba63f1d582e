# Copyright (c) deepmark_mm contributors. All rights reserved.
from .channels_last_hook import ChannelsLastHook
from .retain_freed_memory_hook import RetainFreedMemoryHook

__all__ = ['ChannelsLastHook', 'RetainFreedMemoryHook']
