# Copyright (c) deepmark_mm contributors. All rights reserved.
"""RetainFreedMemoryHook / retain_freed_memory: freed activation memory is reused, not
page-faulted in again; non-glibc C libraries are handled."""
import subprocess
import sys
from types import SimpleNamespace

import pytest
from mmdet.registry import HOOKS

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401
from deepmark_mm.cpu_training import retain_freed_memory_hook
from deepmark_mm.cpu_training.retain_freed_memory_hook import retain_freed_memory

# allocate, touch and free an 8 MiB tensor 40 times; print the minor page faults of the loop.
# 'unmapped': glibc's initial 128 KiB mmap threshold, fixed, so every block gets a fresh mapping
# (as when glibc's dynamic threshold has not adapted, e.g. to a training step's mix of sizes);
# 'retained': retain_freed_memory().
_FAULTS = '''
import ctypes, resource, sys, torch
from deepmark_mm.cpu_training.retain_freed_memory_hook import (M_MMAP_THRESHOLD, _glibc,
                                                         retain_freed_memory)
if sys.argv[1] == 'retained':
    assert retain_freed_memory()
else:
    assert _glibc().mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1
for _ in range(10):  # warm-up: torch's lazy start-up allocations (thread pools) settle
    torch.empty(2 * 1024 * 1024).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    torch.empty(2 * 1024 * 1024).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''


def _loop_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, '-c', _FAULTS, mode], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(retain_freed_memory_hook._glibc() is None, reason='needs glibc')
def test_freed_tensors_are_reused_instead_of_faulted_in_again():
    unmapped, retained = _loop_faults('unmapped'), _loop_faults('retained')
    if unmapped < 40 * 50:
        pytest.skip(f'{unmapped} faults for 40 fresh 8 MiB mappings: pages are not faulted in '
                    'one 4 KiB page at a time here (transparent huge pages?)')
    # measured here: 81,960 faults unmapped (40 x 2,048 pages and a few more); retained 0,
    # or one block's 2,048 pages when the heap grows once
    assert retained <= 2 * 2048 < unmapped / 10, (unmapped, retained)


def test_hook_applies_the_setting_and_reports_a_non_glibc_library(monkeypatch):
    calls = []
    monkeypatch.setattr(
        'deepmark_mm.cpu_training.retain_freed_memory_hook.retain_freed_memory',
        lambda: calls.append('applied') or True)
    hook = HOOKS.build(dict(type='RetainFreedMemoryHook'))
    hook.before_run(SimpleNamespace())
    assert calls == ['applied']

    monkeypatch.setattr(retain_freed_memory_hook, '_glibc', lambda: None)
    assert retain_freed_memory() is False
    monkeypatch.setattr('deepmark_mm.cpu_training.retain_freed_memory_hook.retain_freed_memory',
                        retain_freed_memory)
    messages = []
    monkeypatch.setattr('deepmark_mm.cpu_training.retain_freed_memory_hook.print_log',
                        lambda msg, **kwargs: messages.append((msg, kwargs.get('level'))))
    hook.before_run(SimpleNamespace())
    assert messages == [('RetainFreedMemoryHook: the C library is not glibc (or refused '
                         'mallopt); memory settings unchanged', 30)]
