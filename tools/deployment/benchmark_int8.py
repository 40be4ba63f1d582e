#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""fp32 vs int8 onnxruntime latency of DeepMark models, all interleaved in one process.

    python tools/deployment/benchmark_int8.py CONFIG[:CKPT] [CONFIG[:CKPT] ...] --calib-dir DIR \
        --shapes 128 256 512 [--threads 2] [--repeats 10] [--postprocess] [--batch-size 1] \
        [--int8-maps kpt_reg kpt_heatmap]

For each input size and model (random weights without ``:CKPT``): export, quantize with
``quantize_onnx`` (``--num`` calibration images of ``--calib-dir``; each ``--int8-maps`` adds a
file whose last convolutions of those maps are int8 too), then time batch-1 runs of every file of
every model alternately (median ms), so that models and precisions are compared under the same
load; idle onnxruntime threads sleep (spinning ones would slow the next file's run). Prints a
Markdown table with parameters, GFLOPs (one multiply-add = one FLOP), file sizes, the CPU and
the load average.
"""
import argparse
import contextlib
import io
import os
import os.path as osp
import sys
import tempfile
from functools import partial

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main() -> None:
    parser = argparse.ArgumentParser(description='fp32 vs int8 latency of several models')
    parser.add_argument('models', nargs='+', help='CONFIG or CONFIG:CHECKPOINT')
    parser.add_argument('--calib-dir', required=True)
    parser.add_argument('--num', type=int, default=32)
    parser.add_argument('--shapes', type=int, nargs='+', default=[128, 256, 512])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--postprocess', action='store_true')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='export with this fixed batch size (1: the edge deployment) instead '
                        'of the dynamic batch axis')
    parser.add_argument('--int8-maps', nargs='+', action='append', default=[], metavar='MAP',
                        help='also time a file whose last convolutions of these maps are int8 '
                        '(repeatable: one file per use)')
    args = parser.parse_args()
    import torch
    from mmengine.analysis import FlopAnalyzer

    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                                'analysis_tools'))
    from _timing import cpu_name, interleaved_median_ms

    from deepmark_mm.apis import image_files
    from deepmark_mm.deployment import (INPUT_NAME, build_detector, create_session, export_onnx,
                                        preprocessed_batches, quantize_onnx)
    images = image_files(args.calib_dir)[:args.num]
    folder = tempfile.mkdtemp()
    variants = [('int8', ())] + [('int8 + ' + ' '.join(maps), tuple(maps))
                                 for maps in args.int8_maps]
    graph = 'postprocess' if args.postprocess else 'network'
    print('| model | params M | input | GFLOPs | graph | int8 file | fp32 MB | int8 MB | fp32 ms '
          '| int8 ms | speed-up |')
    print('|---|---|---|---|---|---|---|---|---|---|---|')
    for size in args.shapes:
        rows, runs = [], []
        for index, spec in enumerate(args.models):
            config, _, checkpoint = spec.partition(':')
            model = build_detector(config, checkpoint or None)
            with contextlib.redirect_stderr(io.StringIO()):
                gflops = FlopAnalyzer(model, torch.zeros(1, 3, size, size)).total() / 1e9
            float_file = osp.join(folder, f'{index}_{size}.onnx')
            export_onnx(config, checkpoint or None, float_file, input_shape=size, model=model,
                        verify=False, postprocess=args.postprocess, batch_size=args.batch_size)
            batches = list(preprocessed_batches(images, model.cfg, (size, size)))
            files = [float_file]
            for number, (_, int8_maps) in enumerate(variants):
                files.append(osp.join(folder, f'{index}_{size}_int8_{number}.onnx'))
                with contextlib.redirect_stderr(io.StringIO()):
                    quantize_onnx(float_file, files[-1], batches, int8_maps=int8_maps)
            feed = {INPUT_NAME: batches[0]}
            runs += [partial(create_session(f, num_threads=args.threads, spinning=False).run,
                             None, feed) for f in files]
            params = sum(p.numel() for p in model.parameters()) / 1e6
            rows.append((osp.basename(config)[:-3], params, gflops, files))
        times = iter(interleaved_median_ms(runs, args.repeats, warmup=2))
        for name, params, gflops, (float_file, *int8_files) in rows:
            fp32 = next(times)
            for (variant, _), int8_file in zip(variants, int8_files):
                int8_ms = next(times)
                print(f'| {name} | {params:.2f} | {size} | {gflops:.2f} | {graph} | {variant} | '
                      f'{osp.getsize(float_file) / 1e6:.1f} | {osp.getsize(int8_file) / 1e6:.1f} '
                      f'| {fp32:.1f} | {int8_ms:.1f} | {fp32 / int8_ms:.2f}x |', flush=True)
    print(f'\n{cpu_name()}, {args.threads} onnxruntime threads, batch 1, median of '
          f'{args.repeats}; load average {os.getloadavg()}')


if __name__ == '__main__':
    main()
