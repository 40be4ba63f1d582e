# Copyright (c) deepmark_mm contributors. All rights reserved.
from .checkpoint_loading import load_checkpoint_file, load_model_checkpoint, trust_checkpoint
from .cpu_distributed import prepare_cpu_distributed

__all__ = [
    'load_checkpoint_file', 'load_model_checkpoint', 'prepare_cpu_distributed', 'trust_checkpoint'
]
