#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""fp32 vs int8 onnxruntime latency of a DeepMark config, interleaved in one process.

    python tools/deployment/benchmark_int8.py CONFIG [CKPT|none] --calib-dir DIR \
        --shapes 128 256 512 [--threads 2] [--repeats 10] [--postprocess] \
        [--int8-maps kpt_reg kpt_heatmap]

For each input size: export (random weights with ``none``), quantize with
``quantize_onnx`` (``--num`` calibration images of ``--calib-dir``; each ``--int8-maps`` adds a
file whose last convolutions of those maps are int8 too), then time batch-1 runs of the files
alternately (median ms). Prints a Markdown table with file sizes, the CPU and the
load average.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from functools import partial

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main() -> None:
    parser = argparse.ArgumentParser(description='fp32 vs int8 latency')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default='none')
    parser.add_argument('--calib-dir', required=True)
    parser.add_argument('--num', type=int, default=32)
    parser.add_argument('--shapes', type=int, nargs='+', default=[128, 256, 512])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--postprocess', action='store_true')
    parser.add_argument('--int8-maps', nargs='+', action='append', default=[], metavar='MAP',
                        help='also time a file whose last convolutions of these maps are int8 '
                        '(repeatable: one file per use)')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    import contextlib
    import io
    from deepmark_mm.deployment import (INPUT_NAME, build_detector, cpu_name, create_session,
                                        export_onnx, list_images, preprocessed_batches,
                                        quantize_onnx)
    from deepmark_mm.utils import interleaved_median_ms
    cfg_options = dict(option.split('=', 1) for option in args.cfg_options) or None
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = build_detector(args.config, checkpoint, cfg_options=cfg_options)
    images = list_images(args.calib_dir, args.num)
    folder = tempfile.mkdtemp()
    variants = [('int8', ())] + [('int8 + ' + ' '.join(maps), tuple(maps))
                                 for maps in args.int8_maps]
    print('| input | graph | int8 file | fp32 MB | int8 MB | fp32 ms | int8 ms | speed-up |')
    print('|---|---|---|---|---|---|---|---|')
    for size in args.shapes:
        float_file = osp.join(folder, f'{size}.onnx')
        export_onnx(args.config, checkpoint, float_file, input_shape=size, model=model,
                    cfg_options=cfg_options, verify=False, postprocess=args.postprocess)
        batches = list(preprocessed_batches(images, model.cfg, (size, size)))
        int8_files = [osp.join(folder, f'{size}_int8_{i}.onnx') for i in range(len(variants))]
        for int8_file, (_, int8_maps) in zip(int8_files, variants):
            with contextlib.redirect_stderr(io.StringIO()):
                quantize_onnx(float_file, int8_file, batches, int8_maps=int8_maps)
        sessions = [create_session(f, num_threads=args.threads) for f in [float_file] + int8_files]
        feed = {INPUT_NAME: batches[0]}
        fp32, *int8 = interleaved_median_ms(
            [partial(session.run, None, feed) for session in sessions], args.repeats, warmup=2)
        for (name, _), int8_file, int8_ms in zip(variants, int8_files, int8):
            print(f'| {size} | {"postprocess" if args.postprocess else "network"} | {name} | '
                  f'{osp.getsize(float_file) / 1e6:.1f} | {osp.getsize(int8_file) / 1e6:.1f} | '
                  f'{fp32:.1f} | {int8_ms:.1f} | {fp32 / int8_ms:.2f}x |', flush=True)
    print(f'\n{cpu_name()}, {args.threads} onnxruntime threads, batch 1, median of '
          f'{args.repeats}; load average {os.getloadavg()}')


if __name__ == '__main__':
    main()
