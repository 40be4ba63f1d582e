# Copyright (c) deepmark_mm contributors. All rights reserved.
"""bfloat16 mixed precision on any device, CPU included."""
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """An :class:`OptimWrapper` whose forward pass runs under ``torch.autocast(bfloat16)`` on
    the model's device type (MMEngine's ``AmpOptimWrapper`` refuses a CPU), without loss scaling.

    Example:
        >>> optim_wrapper = dict(type='BF16AutocastOptimWrapper',
        ...                      optimizer=dict(type='Adam', lr=3e-3))
    """

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of :class:`OptimWrapper` plus bfloat16 autocast."""
        device_type = next((p.device.type for p in model.parameters()), 'cpu')
        with super().optim_context(model), torch.autocast(device_type=device_type,
                                                          dtype=torch.bfloat16):
            yield
