# Copyright (c) deepmark_mm contributors. All rights reserved.
from .hooks import InitialWeightsCheckHook
from .runner import DeepMarkRunner
from .schedulers import RunLengthCosineAnnealingLR

__all__ = ['DeepMarkRunner', 'InitialWeightsCheckHook', 'RunLengthCosineAnnealingLR']
