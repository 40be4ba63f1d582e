#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""int8 static quantization of an exported graph (see ``deepmark_mm.deployment.quantize_onnx``).

    python tools/deployment/quantize_onnx.py IN.onnx OUT.onnx CONFIG --calib-dir DIR [--num 64] \
        [--int8-maps kpt_reg kpt_heatmap]

Calibration: the first ``--num`` images of ``--calib-dir`` through the config's test pipeline
and data preprocessor at the graph's input size.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main() -> None:
    parser = argparse.ArgumentParser(description='Quantize an exported DeepMark graph to int8')
    parser.add_argument('onnx_in', help='float graph from export_onnx.py')
    parser.add_argument('onnx_out', help='int8 graph to write')
    parser.add_argument('config', help='config the graph was exported from')
    parser.add_argument('--calib-dir', required=True, help='folder of calibration images')
    parser.add_argument('--num', type=int, default=64, help='calibration images (default 64)')
    parser.add_argument('--int8-maps', nargs='+', default=[], metavar='MAP',
                        help='maps whose last convolution is quantized too (faster, coarser)')
    args = parser.parse_args()
    from deepmark_mm.apis import image_files, load_deepmark_config
    from deepmark_mm.deployment import create_session, preprocessed_batches, quantize_onnx
    if args.num < 1:
        raise SystemExit(f'--num must be >= 1, got {args.num}')
    input_hw = create_session(args.onnx_in).get_inputs()[0].shape[2:]
    try:
        images = image_files(args.calib_dir)[:args.num]
    except FileNotFoundError as error:
        raise SystemExit(str(error))
    batches = list(preprocessed_batches(images, load_deepmark_config(args.config), input_hw))
    print(json.dumps(quantize_onnx(args.onnx_in, args.onnx_out, batches, args.int8_maps),
                     indent=1))


if __name__ == '__main__':
    main()
