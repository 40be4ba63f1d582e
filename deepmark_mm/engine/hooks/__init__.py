# Copyright (c) deepmark_mm contributors. All rights reserved.
from .initial_weights_check_hook import InitialWeightsCheckHook
from .landmark_set_check_hook import LandmarkSetCheckHook, landmark_set_difference

__all__ = ['InitialWeightsCheckHook', 'LandmarkSetCheckHook', 'landmark_set_difference']
