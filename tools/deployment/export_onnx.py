#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Export a DeepMark network to ONNX (see ``deepmark_mm.deployment.export_onnx``).

    python tools/deployment/export_onnx.py CONFIG CKPT OUT.onnx [--shape 512] \
        [--postprocess [--flip]] [--batch-size 1]

Outputs the six maps (heatmaps as probabilities; decode with ``OnnxDeepMark``) or, with
``--postprocess``, ``max_per_img`` detections per image in network-input pixels (padding rows:
score 0, label -1); ``--flip`` adds CenterNet's flip fusion. Deformable convolutions of
``deepmark_mm.ops`` export as ONNX ``DeformConv`` (opset 19).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main() -> None:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Export DeepMark to ONNX')
    parser.add_argument('config', help='config path or name')
    parser.add_argument('checkpoint', help='checkpoint file ("none": random weights, for tests)')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs='+', default=None,
                        help='input H (square) or H W; default: the config\'s test input size')
    parser.add_argument('--postprocess', action='store_true',
                        help='decoding and landmark grouping inside the graph')
    parser.add_argument('--flip', action='store_true',
                        help='flip fusion inside the graph (with --postprocess)')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='a fixed batch size instead of the dynamic batch axis')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.topk=50')
    args = parser.parse_args()
    from deepmark_mm.deployment import export_onnx
    shape = None if args.shape is None else (
        args.shape[0] if len(args.shape) == 1 else tuple(args.shape))
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    try:
        info = export_onnx(args.config, checkpoint, args.out, input_shape=shape,
                           cfg_options=args.cfg_options, postprocess=args.postprocess,
                           flip=args.flip, batch_size=args.batch_size)
    except ValueError as error:
        raise SystemExit(f'export refused: {error}')
    print(json.dumps(info, indent=1))


if __name__ == '__main__':
    main()
