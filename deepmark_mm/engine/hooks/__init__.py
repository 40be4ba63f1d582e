# Copyright (c) deepmark_mm contributors. All rights reserved.
from .initial_weights_check_hook import InitialWeightsCheckHook
from .keypoint_set_check_hook import KeypointSetCheckHook, keypoint_set_difference

__all__ = ['InitialWeightsCheckHook', 'KeypointSetCheckHook', 'keypoint_set_difference']
