#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""fp32 vs int8 onnxruntime latency of a DeepMark config, interleaved in one process.

    python tools/deployment/benchmark_int8.py CONFIG [CKPT|none] --calib-dir DIR \
        --shapes 128 256 512 [--threads 2] [--repeats 10] [--postprocess]

For each input size: export (random weights with ``none``), quantize with
``quantize_onnx`` (``--num`` calibration images of ``--calib-dir``), then time batch-1 runs of
both files alternately (median ms). Prints a Markdown table with file sizes, the CPU and the
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
    print(f'| input | graph | fp32 MB | int8 MB | fp32 ms | int8 ms | speed-up |')
    print('|---|---|---|---|---|---|---|')
    for size in args.shapes:
        float_file = osp.join(folder, f'{size}.onnx')
        int8_file = osp.join(folder, f'{size}_int8.onnx')
        export_onnx(args.config, checkpoint, float_file, input_shape=size, model=model,
                    cfg_options=cfg_options, verify=False, postprocess=args.postprocess)
        batches = list(preprocessed_batches(images, model.cfg, (size, size)))
        with contextlib.redirect_stderr(io.StringIO()):
            quantize_onnx(float_file, int8_file, batches)
        sessions = [create_session(f, num_threads=args.threads) for f in (float_file, int8_file)]
        feed = {INPUT_NAME: batches[0]}
        fp32, int8 = interleaved_median_ms(
            [partial(session.run, None, feed) for session in sessions], args.repeats, warmup=2)
        print(f'| {size} | {"postprocess" if args.postprocess else "network"} | '
              f'{osp.getsize(float_file) / 1e6:.1f} | {osp.getsize(int8_file) / 1e6:.1f} | '
              f'{fp32:.1f} | {int8:.1f} | {fp32 / int8:.2f}x |', flush=True)
    print(f'\n{cpu_name()}, {args.threads} onnxruntime threads, batch 1, median of '
          f'{args.repeats}; load average {os.getloadavg()}')


if __name__ == '__main__':
    main()
