# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Opt-in speed-ups for training on a CPU (``custom_imports`` of ``'deepmark_mm.cpu_training'``);
``import deepmark_mm`` does not import this package."""
from .bf16_autocast_optim_wrapper import BF16AutocastOptimWrapper
from .centernet_focal_loss import CenterNetFocalLoss, centernet_focal_loss
from .channels_last_hook import ChannelsLastHook
from .float32_depthwise_upsample import Float32DepthwiseUpsample
from .retain_freed_memory_hook import RetainFreedMemoryHook, retain_freed_memory
from .sparse_regression_head import (BranchAtPixels, NeighbourhoodCache,
                                     SparseRegressionDeepMarkHead)

__all__ = [
    'BF16AutocastOptimWrapper', 'BranchAtPixels', 'NeighbourhoodCache', 'CenterNetFocalLoss',
    'centernet_focal_loss', 'ChannelsLastHook', 'Float32DepthwiseUpsample', 'retain_freed_memory',
    'RetainFreedMemoryHook', 'SparseRegressionDeepMarkHead'
]
