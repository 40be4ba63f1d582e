# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Helpers shared by the benchmark tools: the timed detector, the timer and the device's name.

Used by ``tools/analysis_tools/benchmark.py`` (size and speed), ``benchmark_tta.py`` (test-time
augmentation columns), ``benchmark_shared_channels.py``, ``tools/deployment/benchmark_int8.py``
and :func:`deepmark_mm.deployment.benchmark_onnx`. This module is imported
with the package, so MMEngine / MMDetection are imported inside the functions that need them.
"""
import json
import os
import os.path as osp
import platform
import time
from typing import Callable, List, Optional, Sequence

import torch
from torch import nn


def parse_cfg_options(cfg_options: Optional[List[str]]) -> Optional[dict]:
    """``key=value`` strings (as typed after ``--cfg-options``) as a config override dict.

    Args:
        cfg_options (list[str], optional): e.g. ``['model.neck.use_dcn=False']``; values are
            parsed like MMEngine's ``DictAction`` does (numbers, lists, tuples, booleans).

    Returns:
        dict | None: The overrides for ``Config.merge_from_dict``; None when there are none.
    """
    if not cfg_options:
        return None
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--opts', nargs='+', action=DictAction)
    return parser.parse_args(['--opts', *cfg_options]).opts


def build_benchmark_detector(config: str,
                             checkpoint: Optional[str],
                             device: str,
                             cfg_options: Optional[List[str]] = None) -> nn.Module:
    """The detector of ``config`` in eval mode on ``device``, ready to be timed.

    A TTA config (``model=dict(type='DeepMarkTTAModel', module=detector)``) gives its inner
    detector. The checkpoint is loaded by the fit rule (:func:`.load_model_checkpoint`: it must fit
    unless the config sets ``load_partial=True``); without one the weights are random.

    Args:
        config (str): Config file.
        checkpoint (str, optional): Checkpoint file; random weights when None.
        device (str): Torch device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (list[str], optional): ``key=value`` overrides, see
            :func:`parse_cfg_options`.

    Returns:
        nn.Module: The detector.
    """
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import _load_checkpoint

    from .checkpoint_loading import load_model_checkpoint

    cfg = Config.fromfile(config)
    overrides = parse_cfg_options(cfg_options)
    if overrides:
        cfg.merge_from_dict(overrides)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = cfg.model.module if 'module' in cfg.model else cfg.model
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_model_checkpoint(model, _load_checkpoint(checkpoint, map_location='cpu'), checkpoint,
                              config, load_partial=bool(cfg.get('load_partial', False)))
    else:
        model.init_weights()
    return model.to(device).eval()


def time_call(fn: Callable[[], object], device: str, warmup: int, repeat: int) -> float:
    """Median milliseconds of ``fn()`` over ``repeat`` runs after ``warmup`` untimed runs.

    On a CUDA ``device`` every run is followed by ``torch.cuda.synchronize()``, so the time covers
    the kernels, not only their launch.
    """
    synchronize = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for _ in range(warmup):
        fn()
    synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


def interleaved_median_ms(fns: Sequence[Callable[[], object]], repeat: int,
                          warmup: int = 1) -> List[float]:
    """Median milliseconds of each of ``fns``, timed interleaved (CPU).

    After ``warmup`` untimed rounds, each of ``repeat`` rounds runs every function once, in an
    order rotated by one per round, so a change of the machine's load slows all of them alike
    (the only fair side-by-side on a shared machine).
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for round_id in range(repeat):
        for offset in range(len(fns)):
            index = (round_id + offset) % len(fns)
            start = time.perf_counter()
            fns[index]()
            times[index].append((time.perf_counter() - start) * 1000)
    return [sorted(values)[len(values) // 2] for values in times]


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as file:
            for line in file:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """Human-readable name of the measuring device.

    Returns:
        str: The GPU's name for a CUDA ``device``, else ``'<CPU model> (CPU), <n> threads'``
        (torch's intra-op threads).
    """
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    return f'{cpu_name()} (CPU), {torch.get_num_threads()} threads'


def write_benchmark_report(report: dict, out: Optional[str], config: str, suffix: str = '') -> str:
    """Write ``report`` as indented JSON and say where.

    Args:
        report (dict): JSON-serialisable results.
        out (str, optional): Output path; ``work_dirs/benchmark/<config name><suffix>.json``
            when None.
        config (str): The benchmarked config file (names the default output).
        suffix (str): Appended to the config name in the default output name.

    Returns:
        str: The path written (its folder is created if needed).
    """
    out = out or osp.join('work_dirs', 'benchmark',
                          osp.splitext(osp.basename(config))[0] + suffix + '.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as file:
        json.dump(report, file, indent=2)
    print(f'wrote {out}')
    return out
