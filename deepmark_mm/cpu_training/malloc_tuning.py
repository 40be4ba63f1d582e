# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Keep freed heap memory in the process instead of handing it back to the OS (glibc only)."""
import ctypes
import ctypes.util
from typing import Optional

#: glibc ``mallopt`` parameters (``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: The largest ``M_MMAP_THRESHOLD`` glibc accepts on 64-bit (``HEAP_MAX_SIZE / 2``).
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024
#: ``mallopt`` takes an ``int``: the largest trim threshold it can express.
MAX_TRIM_THRESHOLD = 2**31 - 1


def _glibc() -> Optional[ctypes.CDLL]:
    """The C library when it is glibc (has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    name = ctypes.util.find_library('c')
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, 'mallopt') and hasattr(libc, 'gnu_get_libc_version')):
        return None
    return libc


def retain_freed_memory(mmap_threshold: int = MAX_MMAP_THRESHOLD,
                        trim_threshold: int = MAX_TRIM_THRESHOLD) -> bool:
    """Let glibc's ``malloc`` reuse freed memory instead of returning it to the OS.

    By default glibc serves every block above a (dynamic) threshold with a fresh ``mmap`` and
    unmaps it on ``free``, and trims the heap's free top. A CPU training step allocates and frees
    the same activation-sized tensors every iteration, so each step page-faults them in again.
    Serving blocks up to ``mmap_threshold`` from the heap and never trimming below
    ``trim_threshold`` keeps those pages mapped, so later steps reuse them. The process keeps
    its peak heap size (it does not shrink after a peak).

    Args:
        mmap_threshold (int): Blocks at least this large still get their own ``mmap``. At most
            32 MiB (glibc's limit). Defaults to 32 MiB.
        trim_threshold (int): Free memory at the heap's top kept before trimming. Defaults to the
            largest value ``mallopt`` takes (2 GiB - 1).

    Returns:
        bool: True when both settings were applied, False where the C library is not glibc (e.g.
        macOS, musl) or refused a value.

    Raises:
        ValueError: On a threshold outside ``[0, 32 MiB]`` / ``[0, 2 GiB - 1]``.
    """
    if not 0 <= mmap_threshold <= MAX_MMAP_THRESHOLD:
        raise ValueError(f'retain_freed_memory: mmap_threshold must lie in [0, '
                         f'{MAX_MMAP_THRESHOLD}], got {mmap_threshold}')
    if not 0 <= trim_threshold <= MAX_TRIM_THRESHOLD:
        raise ValueError(f'retain_freed_memory: trim_threshold must lie in [0, '
                         f'{MAX_TRIM_THRESHOLD}], got {trim_threshold}')
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # both calls always run: a refused first one must not skip the second
    applied = [libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold),
               libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)]
    return all(result == 1 for result in applied)
