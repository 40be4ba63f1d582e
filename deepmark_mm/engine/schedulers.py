# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A cosine learning-rate decay that fits any training length."""
from mmdet.registry import PARAM_SCHEDULERS
from mmengine.optim import CosineAnnealingLR


@PARAM_SCHEDULERS.register_module()
class RunLengthCosineAnnealingLR(CosineAnnealingLR):
    """MMEngine's ``CosineAnnealingLR`` whose ``end`` may be left out (the run's end); a run
    ending at or before ``begin`` decays over its last step instead of failing."""

    def __init__(self, optimizer, *args, begin: int = 0, end: int = int(1e9), **kwargs) -> None:
        super().__init__(optimizer, *args, begin=max(0, min(begin, end - 1)), end=end, **kwargs)
