# Copyright (c) deepmark_mm contributors. All rights reserved.
from .bf16_autocast_optim_wrapper import BF16AutocastOptimWrapper

__all__ = ['BF16AutocastOptimWrapper']
