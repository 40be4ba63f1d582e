#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""int8 post-training static quantization of an exported DeepMark graph (onnxruntime).

    python tools/deployment/quantize_onnx.py IN.onnx OUT.onnx CONFIG --calib-dir DIR [--num 64]

Calibration: the first ``--num`` images of ``--calib-dir`` (e.g. the training images) through
the config's test pipeline and data preprocessor at the graph's input size. QDQ format, int8
weights per output channel, uint8 activations; the decoding part of a ``--postprocess`` graph and
the layers that output the six maps stay float (``--int8-maps`` quantizes the last convolution of
the named maps too). Runs with plain onnxruntime like the float file.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Quantize an exported DeepMark graph to int8')
    parser.add_argument('onnx_in', help='float graph from export_onnx.py')
    parser.add_argument('onnx_out', help='int8 graph to write')
    parser.add_argument('config', help='config the graph was exported from')
    parser.add_argument('--calib-dir', required=True, help='folder of calibration images')
    parser.add_argument('--num', type=int, default=64, help='calibration images (default 64)')
    parser.add_argument('--method', default='MinMax', choices=['MinMax', 'Entropy', 'Percentile'],
                        help='activation range calibration (default MinMax)')
    parser.add_argument('--per-tensor', action='store_true',
                        help='one weight scale per tensor instead of per output channel')
    parser.add_argument('--int8-maps', nargs='+', default=[], metavar='MAP',
                        help='maps whose last convolution is quantized too (faster, coarser: '
                        '256 steps of the calibrated range), e.g. kpt_reg kpt_heatmap')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from deepmark_mm.apis import load_deepmark_config
    from deepmark_mm.deployment import (create_session, list_images, preprocessed_batches,
                                        quantize_onnx)
    if args.num < 1:
        raise SystemExit(f'--num must be >= 1, got {args.num}')
    cfg = load_deepmark_config(args.config)
    input_hw = create_session(args.onnx_in).get_inputs()[0].shape[2:]
    try:
        images = list_images(args.calib_dir, args.num)
    except FileNotFoundError as error:
        raise SystemExit(str(error))
    batches = list(preprocessed_batches(images, cfg, input_hw))
    info = quantize_onnx(args.onnx_in, args.onnx_out, batches, per_channel=not args.per_tensor,
                         calibrate_method=args.method,
                         int8_maps=args.int8_maps)
    print(json.dumps(info, indent=1))


if __name__ == '__main__':
    main()
