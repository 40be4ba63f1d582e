# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Run the model's convolutions in the channels-last (NHWC) memory format."""
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model's 4-D parameters and buffers to ``torch.channels_last`` before the run
    (in place: an optimizer built earlier still owns them). For plain-conv models: mmcv's
    deformable-conv ops expect contiguous NCHW tensors.

    Example:
        >>> custom_hooks = [dict(type='ChannelsLastHook')]
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
