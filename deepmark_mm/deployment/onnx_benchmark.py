# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Time an exported DeepMark network with onnxruntime (network only, no decoding)."""
import platform
import statistics
import time
from typing import Dict, Optional, Sequence, Union

import numpy as np

from deepmark_mm.utils.benchmark_utils import cpu_name
from .export_wrapper import INPUT_NAME
from .onnx_export import create_session


def benchmark_onnx(onnx_file: str,
                   shape: Optional[Union[int, Sequence[int]]] = None,
                   repeats: int = 20,
                   warmup: int = 3,
                   num_threads: Optional[int] = None,
                   device: str = 'cpu',
                   seed: int = 0) -> Dict:
    """Milliseconds per forward pass of an exported network under onnxruntime.

    Args:
        onnx_file (str): Model from :func:`~deepmark_mm.deployment.export_onnx`.
        shape (int | Sequence[int], optional): ``H`` (square), ``(H, W)`` or ``(B, 3, H, W)``;
            the graph's fixed ``H, W`` and batch 1 when None. ``H, W`` must be the graph's.
        repeats (int): Timed runs.
        warmup (int): Untimed runs first.
        num_threads (int, optional): onnxruntime intra-op threads (its default: all cores).
        device (str): ``'cpu'`` or ``'cuda'`` (onnxruntime-gpu).
        seed (int): Seed of the random input.

    Returns:
        dict: ``onnx_file``, ``input_shape`` [B, 3, H, W], ``repeats``, ``ms_mean``,
        ``ms_median``, ``ms_min``, ``ms_std``, ``images_per_s`` (batch / mean time),
        ``providers``, ``num_threads``, ``onnxruntime`` version, ``cpu`` model and
        ``platform``.

    Raises:
        ValueError: For a shape the graph does not take or ``repeats < 1``.
    """
    import onnxruntime as ort
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    session = create_session(onnx_file, device, num_threads)
    graph_shape = session.get_inputs()[0].shape  # ['batch', 3, H, W]
    if shape is None:
        input_shape = [1, 3, graph_shape[2], graph_shape[3]]
    elif isinstance(shape, int):
        input_shape = [1, 3, shape, shape]
    elif len(shape) == 2:
        input_shape = [1, 3, int(shape[0]), int(shape[1])]
    elif len(shape) == 4:
        input_shape = [int(value) for value in shape]
    else:
        raise ValueError(f'shape must be H, (H, W) or (B, 3, H, W), got {shape}')
    if input_shape[1:] != [3, graph_shape[2], graph_shape[3]]:
        raise ValueError(f'{onnx_file} takes (batch, 3, {graph_shape[2]}, {graph_shape[3]}) '
                         f'inputs, not {input_shape}; export it at that size')
    inputs = np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)
    feed = {INPUT_NAME: inputs}
    for _ in range(warmup):
        session.run(None, feed)
    times_ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times_ms.append((time.perf_counter() - start) * 1000.0)
    mean = statistics.fmean(times_ms)
    return dict(
        onnx_file=onnx_file,
        input_shape=input_shape,
        repeats=repeats,
        ms_mean=mean,
        ms_median=statistics.median(times_ms),
        ms_min=min(times_ms),
        ms_std=statistics.pstdev(times_ms),
        images_per_s=input_shape[0] * 1000.0 / mean,
        providers=session.get_providers(),
        num_threads=num_threads,
        onnxruntime=ort.__version__,
        cpu=cpu_name(),
        platform=platform.platform())
