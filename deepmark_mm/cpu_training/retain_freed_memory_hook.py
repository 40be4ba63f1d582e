# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Stop glibc from unmapping and re-faulting activation memory every CPU training step."""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from .malloc_tuning import MAX_MMAP_THRESHOLD, MAX_TRIM_THRESHOLD, retain_freed_memory


@HOOKS.register_module()
class RetainFreedMemoryHook(Hook):
    """Call :func:`~deepmark_mm.cpu_training.malloc_tuning.retain_freed_memory` before the run.

    PyTorch's CPU allocator hands every tensor straight to ``malloc``, and glibc returns large
    freed blocks to the OS, so each training step page-faults its activations in again. With the
    hook the process keeps that memory and reuses it from step to step. It changes no number the
    model computes. The data loader's workers, forked later, inherit the setting. Where the C
    library is not glibc the hook logs that and does nothing.

    Args:
        mmap_threshold (int): See :func:`retain_freed_memory`. Defaults to 32 MiB.
        trim_threshold (int): See :func:`retain_freed_memory`. Defaults to 2 GiB - 1.

    Example:
        >>> custom_hooks = [dict(type='RetainFreedMemoryHook')]
    """

    priority = 'VERY_HIGH'

    def __init__(self, mmap_threshold: int = MAX_MMAP_THRESHOLD,
                 trim_threshold: int = MAX_TRIM_THRESHOLD) -> None:
        self.mmap_threshold = mmap_threshold
        self.trim_threshold = trim_threshold

    def before_run(self, runner) -> None:
        if retain_freed_memory(self.mmap_threshold, self.trim_threshold):
            print_log(f'RetainFreedMemoryHook: malloc keeps freed memory (mmap threshold '
                      f'{self.mmap_threshold} B, trim threshold {self.trim_threshold} B)',
                      logger='current')
        else:
            print_log('RetainFreedMemoryHook: the C library is not glibc (or refused mallopt); '
                      'memory settings unchanged', logger='current', level=30)
