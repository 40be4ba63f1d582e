# Copyright (c) deepmark_mm contributors. All rights reserved.
from .initial_weights_check_hook import InitialWeightsCheckHook

__all__ = ['InitialWeightsCheckHook']
