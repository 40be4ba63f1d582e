# Copyright (c) deepmark_mm contributors. All rights reserved.
from .hooks import InitialWeightsCheckHook

__all__ = ['InitialWeightsCheckHook']
