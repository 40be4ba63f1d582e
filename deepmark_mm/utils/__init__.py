# Copyright (c) deepmark_mm contributors. All rights reserved.
from .benchmark_utils import (build_benchmark_detector, cpu_name, device_name,
                              interleaved_median_ms, parse_cfg_options, time_call,
                              write_benchmark_report)
from .checkpoint_loading import (is_trusted, load_checkpoint_file, load_model_checkpoint,
                                 register_checkpoint_loader, trust_checkpoint)
from .cpu_distributed import cpu_model_wrapper_cfg, prepare_cpu_distributed
from .version_guard import check_openmmlab_versions, check_version

__all__ = [
    'build_benchmark_detector', 'check_openmmlab_versions', 'check_version',
    'cpu_model_wrapper_cfg', 'cpu_name', 'device_name', 'interleaved_median_ms', 'is_trusted',
    'load_checkpoint_file',
    'load_model_checkpoint', 'parse_cfg_options', 'prepare_cpu_distributed',
    'register_checkpoint_loader', 'time_call', 'trust_checkpoint',
    'write_benchmark_report'
]
