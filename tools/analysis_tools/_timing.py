# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Timers and reports of the benchmark tools (``benchmark.py``, ``tools/deployment``).

What a library lacks here: interleaved rounds over several functions (``torch.utils.benchmark``
times one statement at a time), the device's name in the report and a per-file onnxruntime timer.
Imported by path: ``sys.path.insert(0, 'tools/analysis_tools'); from _timing import ...``.
"""
import contextlib
import json
import os
import os.path as osp
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch


def timed_rounds(fns: Sequence[Callable[[], object]], repeat: int, warmup: int = 1,
                 device: str = 'cpu') -> List[List[float]]:
    """Per function of ``fns``, the ms of each of ``repeat`` rounds (the one timing loop here).

    After ``warmup`` untimed rounds, each round runs every function once, in an order rotated by
    one per round, so a change of the machine's load slows all of them alike; CUDA ``device``:
    synchronised after each run.
    """
    synchronize = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for _ in range(warmup):
        for fn in fns:
            fn()
    synchronize()
    times: List[List[float]] = [[] for _ in fns]
    for round_id in range(repeat):
        for offset in range(len(fns)):
            index = (round_id + offset) % len(fns)
            start = time.perf_counter()
            fns[index]()
            synchronize()
            times[index].append((time.perf_counter() - start) * 1000)
    return times


def interleaved_median_ms(fns: Sequence[Callable[[], object]], repeat: int, warmup: int = 1,
                          device: str = 'cpu') -> List[float]:
    """Median ms of each of ``fns``, timed interleaved (:func:`timed_rounds`)."""
    return [statistics.median(values) for values in timed_rounds(fns, repeat, warmup, device)]


def time_call(fn: Callable[[], object], device: str, warmup: int, repeat: int) -> float:
    """Median ms of ``fn()`` over ``repeat`` runs after ``warmup``."""
    return interleaved_median_ms([fn], repeat, warmup, device)[0]


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    with contextlib.suppress(OSError), open('/proc/cpuinfo', encoding='utf-8') as file:
        for line in file:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """The GPU's name for a CUDA ``device``, else ``'<CPU model> (CPU), <n> threads'``."""
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    return f'{cpu_name()} (CPU), {torch.get_num_threads()} threads'


def write_report(report: dict, out: Optional[str], name: str) -> str:
    """Write ``report`` as JSON to ``out`` (default ``work_dirs/benchmark/<name>.json``)."""
    out = out or osp.join('work_dirs', 'benchmark', name + '.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as file:
        json.dump(report, file, indent=2)
    print(f'wrote {out}')
    return out


def benchmark_onnx(onnx_file: str,
                   shape: Optional[Union[int, Sequence[int]]] = None,
                   repeats: int = 20,
                   warmup: int = 3,
                   num_threads: Optional[int] = None,
                   device: str = 'cpu',
                   seed: int = 0) -> Dict:
    """Milliseconds per forward of an exported network under onnxruntime (no decoding).

    Args:
        onnx_file (str): Model from :func:`~deepmark_mm.deployment.export_onnx`.
        shape (int | Sequence[int], optional): ``H`` (square), ``(H, W)`` or ``(B, 3, H, W)``;
            the graph's ``H, W`` and batch 1 when None. ``H, W`` must be the graph's.
        repeats (int): Timed runs. warmup (int): Untimed runs first.
        num_threads (int, optional): onnxruntime intra-op threads (its default: all cores).
        device (str): ``'cpu'`` or ``'cuda'`` (onnxruntime-gpu). seed (int): Input seed.

    Returns:
        dict: ``onnx_file``, ``input_shape`` [B, 3, H, W], ``repeats``, ``ms_mean``,
        ``ms_median``, ``ms_min``, ``ms_std``, ``images_per_s``, ``providers``,
        ``num_threads``, ``onnxruntime``, ``cpu``, ``platform``.

    Raises:
        ValueError: For a shape the graph does not take or ``repeats < 1``.
    """
    import onnxruntime as ort

    from deepmark_mm.deployment import INPUT_NAME, create_session
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    session = create_session(onnx_file, device, num_threads)
    graph_shape = session.get_inputs()[0].shape  # ['batch', 3, H, W]
    if shape is None:
        input_shape = [1, 3, graph_shape[2], graph_shape[3]]
    elif isinstance(shape, int):
        input_shape = [1, 3, shape, shape]
    elif len(shape) in (2, 4):
        input_shape = [1, 3, *map(int, shape)] if len(shape) == 2 else [int(v) for v in shape]
    else:
        raise ValueError(f'shape must be H, (H, W) or (B, 3, H, W), got {shape}')
    if input_shape[1:] != [3, graph_shape[2], graph_shape[3]]:
        raise ValueError(f'{onnx_file} takes (batch, 3, {graph_shape[2]}, {graph_shape[3]}) '
                         f'inputs, not {input_shape}; export it at that size')
    feed = {INPUT_NAME: np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)}
    times_ms = timed_rounds([lambda: session.run(None, feed)], repeats, warmup)[0]
    mean = statistics.fmean(times_ms)
    return dict(onnx_file=onnx_file, input_shape=input_shape, repeats=repeats, ms_mean=mean,
                ms_median=statistics.median(times_ms), ms_min=min(times_ms),
                ms_std=statistics.pstdev(times_ms), images_per_s=input_shape[0] * 1000.0 / mean,
                providers=session.get_providers(), num_threads=num_threads,
                onnxruntime=ort.__version__, cpu=cpu_name(), platform=platform.platform())
