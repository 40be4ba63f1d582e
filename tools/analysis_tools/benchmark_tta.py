#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Milliseconds per image of DeepMark inference with and without test-time augmentation.

The paper's Table 4 columns, per square input side S:

=========  ================================================================================
single     the detector alone (preprocess + forward + decode)
nms        + per-class Gaussian soft-NMS of the detections
flip       the image and its mirror in ONE forward of batch 2, outputs fused, one decode
flip-ms    flip at every scale of ``--scales`` (views of round(S * scale) px), soft-NMS merge
=========  ================================================================================

plus ``forward_ms`` / ``forward_x2_ms``: the network alone on 1 and on 2 images, to compare the
flip overhead with one extra forward. Inputs are random images (decoding always handles
``test_cfg.topk`` candidates, so the cost does not depend on the content); the data pipeline
(image loading and the affine warp) is not timed.

    python tools/analysis_tools/benchmark_tta.py configs/deepmark_hg_512.py --shape 512
    python tools/analysis_tools/benchmark_tta.py \
        configs/deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py --shape 256 --device cpu

The paper reports 73 / 76 / 165 / 315 ms (single / NMS / flip / flip + multiscale, Hourglass-104,
512 x 512); the JSON output names the device this run used.
"""
import argparse
import os.path as osp
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from deepmark_mm.utils import (build_benchmark_detector, device_name, time_call,
                               write_benchmark_report)

PAPER_MS = dict(single=73, nms=76, flip=165, flip_ms=315)
MODES = ('single', 'nms', 'flip', 'flip_ms')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark DeepMark test-time augmentation')
    parser.add_argument('config', help='config file (a plain or a TTA config)')
    parser.add_argument('--checkpoint', help='checkpoint to load (random weights when omitted)')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[512], help='square input sides to measure')
    parser.add_argument(
        '--scales', type=float, nargs='+', default=[1.0, 0.75], help='flip-ms view scales')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu', help='torch device')
    parser.add_argument(
        '--fp16', action='store_true',
        help='run everything (network and decoding) under torch.autocast(float16)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs per measurement')
    parser.add_argument('--repeat', type=int, default=10, help='timed runs per measurement')
    parser.add_argument(
        '--out', help='JSON output path (default: work_dirs/benchmark/<config name>_tta.json)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=None, help='override config settings (key=value)')
    return parser.parse_args()


def build_tta_models(detector: nn.Module) -> Dict[str, nn.Module]:
    """The TTA wrappers timed for each column (``single`` is the detector itself)."""
    from deepmark_mm.models.test_time_augs import DeepMarkTTAModel
    return dict(
        nms=DeepMarkTTAModel(detector, flip=False, nms=True).eval(),
        flip=DeepMarkTTAModel(detector, flip=True).eval(),
        flip_ms=DeepMarkTTAModel(detector, flip=True).eval())


def make_view(original: np.ndarray, side: int) -> tuple:
    """(input (3, side, side) uint8 tensor, DetDataSample) of a square image resized to side."""
    import cv2
    from mmdet.structures import DetDataSample
    scale = side / original.shape[0]
    img = cv2.resize(original, (side, side), interpolation=cv2.INTER_LINEAR)
    sample = DetDataSample()
    sample.set_metainfo(
        dict(
            img_id=0,
            ori_shape=original.shape[:2],
            img_shape=(side, side),
            scale_factor=(scale, scale),
            homography_matrix=np.diag([scale, scale, 1.0]).astype(np.float32)))
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), sample


def benchmark_shape(detector: nn.Module, tta_models: Dict[str, nn.Module], side: int,
                    scales: Sequence[float], device: str, warmup: int,
                    repeat: int, fp16: bool = False) -> Dict[str, object]:
    """Measure every column at one square input side (under float16 autocast with ``fp16``).

    Returns:
        dict: ``shape``, ``views`` (flip-ms view sides), ``forward_ms``, ``forward_x2_ms`` and
        ``<mode>_ms`` for each of ``single``, ``nms``, ``flip``, ``flip_ms``.
    """
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    view_sides = [max(1, round(side * scale)) for scale in scales]
    views = [make_view(original, view_side) for view_side in view_sides]
    full_view = make_view(original, side)

    def batch_of(selected):
        return dict(
            inputs=[[img] for img, _ in selected],
            data_samples=[[sample] for _, sample in selected])

    single_data = dict(inputs=[full_view[0]], data_samples=[full_view[1]])
    runs = dict(
        single=lambda: detector.test_step(single_data),
        nms=lambda: tta_models['nms'].test_step(batch_of([full_view])),
        flip=lambda: tta_models['flip'].test_step(batch_of([full_view])),
        flip_ms=lambda: tta_models['flip_ms'].test_step(batch_of(views)))
    network_input = detector.data_preprocessor(single_data, False)['inputs']
    result: Dict[str, object] = dict(shape=[side, side], views=view_sides)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.float16, enabled=fp16)
    with torch.inference_mode(), autocast:
        result['forward_ms'] = time_call(lambda: detector._forward(network_input), device, warmup,
                                         repeat)
        doubled = torch.cat([network_input, network_input.flip(dims=[3])])
        result['forward_x2_ms'] = time_call(lambda: detector._forward(doubled), device, warmup,
                                            repeat)
        for mode in MODES:
            result[f'{mode}_ms'] = time_call(runs[mode], device, warmup, repeat)
    return result


def main() -> None:
    args = parse_args()
    detector = build_benchmark_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    tta_models = build_tta_models(detector)
    report = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        device=device_name(args.device),
        torch=torch.__version__,
        scales=list(args.scales),
        precision='fp16 autocast' if args.fp16 else 'fp32',
        paper_ms_hourglass104_512=PAPER_MS,
        results=[])
    print(f'{osp.basename(args.config)} on {report["device"]}, flip-ms scales {args.scales}')
    header = ['input', 'forward', 'forward x2', 'single', 'NMS', 'flip', 'flip+ms']
    print('  '.join(f'{h:>10}' for h in header) + '   (ms / image)')
    for side in args.shape:
        row = benchmark_shape(detector, tta_models, side, args.scales, args.device, args.warmup,
                              args.repeat, args.fp16)
        report['results'].append(row)
        values = [row['forward_ms'], row['forward_x2_ms']] + [row[f'{m}_ms'] for m in MODES]
        print(f'{f"{side}x{side}":>10}  ' + '  '.join(f'{v:10.2f}' for v in values))
    print('paper (Hourglass-104, 512x512): ' + ', '.join(f'{mode} {ms} ms'
                                                         for mode, ms in PAPER_MS.items()))
    write_benchmark_report(report, args.out, args.config, suffix='_tta')


if __name__ == '__main__':
    main()
