# Copyright (c) deepmark_mm contributors. All rights reserved.
from .channels_last_hook import ChannelsLastHook

__all__ = ['ChannelsLastHook']
