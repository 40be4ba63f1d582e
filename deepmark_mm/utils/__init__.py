# Copyright (c) deepmark_mm contributors. All rights reserved.
from .checkpoint_loading import (load_checkpoint_file, load_model_checkpoint,
                                 register_checkpoint_loader, trust_checkpoint)
from .cpu_distributed import cpu_model_wrapper_cfg, prepare_cpu_distributed

__all__ = [
    'cpu_model_wrapper_cfg', 'load_checkpoint_file', 'load_model_checkpoint',
    'prepare_cpu_distributed', 'register_checkpoint_loader', 'trust_checkpoint'
]
