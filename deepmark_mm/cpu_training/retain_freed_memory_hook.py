# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Keep freed heap memory in the process instead of handing it back to the OS (glibc only)."""
import ctypes
from typing import Optional

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

#: glibc ``mallopt`` parameters (``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: The largest ``M_MMAP_THRESHOLD`` glibc accepts on 64-bit (``HEAP_MAX_SIZE / 2``).
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024
#: ``mallopt`` takes an ``int``: the largest trim threshold it can express.
MAX_TRIM_THRESHOLD = 2**31 - 1


def _glibc() -> Optional[ctypes.CDLL]:
    """The C library when it is glibc (has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols of the process, its C library included
    except (OSError, TypeError):  # TypeError: Windows has no process-wide handle
        return None
    return libc if hasattr(libc, 'mallopt') and hasattr(libc, 'gnu_get_libc_version') else None


def retain_freed_memory() -> bool:
    """Let glibc's ``malloc`` keep freed memory: blocks under 32 MiB come from the heap, which is
    not trimmed below 2 GiB - 1. True when both were applied; False where the C library is not
    glibc or refused a value."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # both calls always run: a refused first one must not skip the second
    applied = [libc.mallopt(M_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD),
               libc.mallopt(M_TRIM_THRESHOLD, MAX_TRIM_THRESHOLD)]
    return all(result == 1 for result in applied)


@HOOKS.register_module()
class RetainFreedMemoryHook(Hook):
    """Call :func:`retain_freed_memory` before the run, so that the data workers forked later
    inherit it; changes no number the model computes.

    Example:
        >>> custom_hooks = [dict(type='RetainFreedMemoryHook')]
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if retain_freed_memory():
            print_log('RetainFreedMemoryHook: malloc keeps freed memory', logger='current')
        else:
            print_log('RetainFreedMemoryHook: the C library is not glibc (or refused mallopt); '
                      'memory settings unchanged', logger='current', level=30)
