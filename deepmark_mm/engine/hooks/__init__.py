# Copyright (c) deepmark_mm contributors. All rights reserved.
from .channels_last_hook import ChannelsLastHook
from .initial_weights_check_hook import InitialWeightsCheckHook
from .retain_freed_memory_hook import RetainFreedMemoryHook

__all__ = ['ChannelsLastHook', 'InitialWeightsCheckHook', 'RetainFreedMemoryHook']
