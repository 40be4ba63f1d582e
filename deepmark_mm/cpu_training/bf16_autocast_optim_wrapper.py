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
    """An :class:`OptimWrapper` whose forward pass runs under ``torch.autocast(bfloat16)``.

    MMEngine's ``AmpOptimWrapper`` refuses a CPU and scales float16 losses; bfloat16 keeps
    float32's exponent range, so it needs no loss scaling, and oneDNN runs its convolutions on
    CPUs with AVX512-BF16 / AMX. Parameters, gradients and the optimizer state stay float32
    (autocast only casts operator inputs); the DeepMark head computes its losses in float32.
    The device type follows the model's parameters.

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
