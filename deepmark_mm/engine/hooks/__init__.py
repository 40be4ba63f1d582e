# Copyright (c) deepmark_mm contributors. All rights reserved.
from .initial_weights_check_hook import InitialWeightsCheckHook
from .keypoint_set_check_hook import KeypointSetCheckHook, head_keypoint_metainfo

__all__ = ['InitialWeightsCheckHook', 'KeypointSetCheckHook', 'head_keypoint_metainfo']
