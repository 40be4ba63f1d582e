# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Opt-in speed-ups for training on a CPU; ``import deepmark_mm`` does not import this package.

A config opts in with ``custom_imports = dict(imports=['deepmark_mm', 'deepmark_mm.cpu_training'])``
and names the components it wants (the demo config uses all of them):

* ``SparseRegressionDeepMarkHead``: regression branches evaluated only where their losses read
  them, heatmap losses on logits (``CenterNetFocalLoss``); same losses and gradients as
  ``DeepMarkHead``'s dense path.
* ``BF16AutocastOptimWrapper``: bfloat16 autocast on a CPU (MMEngine's ``AmpOptimWrapper``
  accepts only CUDA / NPU / MLU / MUSA devices), and ``Float32DepthwiseUpsample``, the DLA
  up-path's upsampling kept in float32 under it (no fast bfloat16 CPU kernel exists for it).
* ``ChannelsLastHook``: NHWC convolutions (oneDNN's fast CPU layout).
* ``RetainFreedMemoryHook``: glibc keeps freed memory in the process (``mallopt``), so a step does
  not page-fault its activations in again. It changes the C library's settings for the whole
  process, which is why it lives here and runs only as a hook.
"""
from .bf16_autocast_optim_wrapper import BF16AutocastOptimWrapper
from .branch_at_pixels import BranchAtPixels, NeighbourhoodCache
from .centernet_focal_loss import CenterNetFocalLoss, centernet_focal_loss
from .channels_last_hook import ChannelsLastHook
from .float32_depthwise_upsample import Float32DepthwiseUpsample
from .malloc_tuning import retain_freed_memory
from .retain_freed_memory_hook import RetainFreedMemoryHook
from .sparse_regression_head import SparseRegressionDeepMarkHead

__all__ = [
    'BF16AutocastOptimWrapper', 'BranchAtPixels', 'NeighbourhoodCache', 'CenterNetFocalLoss',
    'centernet_focal_loss', 'ChannelsLastHook', 'Float32DepthwiseUpsample', 'retain_freed_memory',
    'RetainFreedMemoryHook', 'SparseRegressionDeepMarkHead'
]
