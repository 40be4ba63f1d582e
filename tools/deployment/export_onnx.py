#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Export a DeepMark network (backbone + neck + head maps) to ONNX for edge devices.

    python tools/deployment/export_onnx.py CONFIG CKPT OUT.onnx --shape 512 [--opset 19] \
        [--postprocess [--flip]]

Graph: ``input`` (batch, 3, H, W) float32, BGR normalised with the config's mean/std; outputs
``center_heatmap`` (13) and ``kpt_heatmap`` (294) as sigmoid probabilities, ``wh``, ``offset``,
``kpt_reg`` (588), ``kpt_offset`` at stride 4. The batch axis is dynamic, H and W are fixed.
Decoding and landmark grouping run outside the graph with the head's own code
(``deepmark_mm.deployment.OnnxDeepMark``), so deployed results equal PyTorch's.

With ``--postprocess`` they run inside it (the same functions, the config's ``test_cfg``; NMS and
non-default grouping rules are refused): outputs ``bboxes`` (batch, K, 4), ``scores`` (batch, K),
``labels`` (batch, K), ``keypoints`` (batch, K, J, 2), ``keypoint_scores`` (batch, K, J) in
network-input pixels, K = ``test_cfg.max_per_img``, padding rows with score 0 and label -1.
``--flip`` adds CenterNet's flip fusion (the network runs on the image and its mirror).

Configs that export: the Hourglass ones and DLA-34 ones with ``model.neck.use_dcn=False`` (e.g.
``configs/deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py``). The paper's DLA-34 configs use
deformable convolutions, which ONNX cannot express: the export refuses them.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args() -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Export DeepMark to ONNX')
    parser.add_argument('config', help='config path or name')
    parser.add_argument('checkpoint', help='checkpoint file ("none": random weights, for tests)')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=None,
        help='input H (square) or H W; default: the config\'s test input size')
    parser.add_argument('--opset', type=int, default=None,
                        help='ONNX opset (default: 17, or 19 for deformable convolutions)')
    parser.add_argument(
        '--postprocess',
        action='store_true',
        help='decoding and landmark grouping inside the graph (fixed-size detections out)')
    parser.add_argument(
        '--flip', action='store_true', help='flip fusion inside the graph (with --postprocess)')
    parser.add_argument(
        '--batch-size', type=int, default=None,
        help='a fixed batch size (e.g. 1 for an edge device: onnxruntime folds the shape '
        'arithmetic) instead of the dynamic batch axis')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnx checker and the onnxruntime-vs-PyTorch comparison')
    parser.add_argument(
        '--benchmark',
        type=int,
        default=0,
        metavar='N',
        help='also time N onnxruntime runs on CPU (batch 1)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. model.test_cfg.topk=50')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from deepmark_mm.deployment import export_onnx
    if args.shape is not None and len(args.shape) not in (1, 2):
        raise SystemExit(f'--shape takes H or H W, got {args.shape}')
    shape = None if args.shape is None else (
        args.shape[0] if len(args.shape) == 1 else tuple(args.shape))
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    try:
        info = export_onnx(
            args.config,
            checkpoint,
            args.out,
            input_shape=shape,
            opset=args.opset,
            cfg_options=args.cfg_options,
            verify=not args.no_verify,
            postprocess=args.postprocess,
            flip=args.flip,
            batch_size=args.batch_size)
    except ValueError as error:
        raise SystemExit(f'export refused: {error}')
    print(json.dumps(info, indent=1))
    if args.benchmark:
        sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                                    'analysis_tools'))
        from _timing import benchmark_onnx
        print(json.dumps(benchmark_onnx(args.out, repeats=args.benchmark), indent=1))


if __name__ == '__main__':
    main()
