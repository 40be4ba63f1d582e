#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Size and speed of a DeepMark model: parameters, GFLOPs and ms/image, per input size.

Forward (backbone + neck + head, one image) and decoding (heatmap peaks, boxes, landmark
grouping: ``DeepMarkHead.predict_by_feat``) are timed separately, on random inputs (the cost does
not depend on the content: decoding always handles ``test_cfg.topk`` candidates). GFLOPs follow
fvcore's convention (one multiply-add = one FLOP) and count the modulated deformable convs as
the 3x3 convs they are.

    python tools/analysis_tools/benchmark.py configs/deepmark_dla34_512.py --shape 128 256 512
    python tools/analysis_tools/benchmark.py configs/deepmark_hg_512.py --checkpoint hg.pth \
        --shape 512 --device cuda --out work_dirs/benchmark/hg.json

The paper reports 35 ms (DLA-34) and 76 ms (Hourglass-104) per 512x512 image on an RTX 2080 Ti;
the JSON output records the device this run used.
"""
import argparse
import os.path as osp
from typing import Dict, List

import torch
from torch import nn

from deepmark_mm.utils import (build_benchmark_detector, device_name, parse_cfg_options, time_call,
                               write_benchmark_report)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark a DeepMark model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint to load (random weights when omitted)')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[512], help='square input sides to measure')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu', help='torch device')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs per shape')
    parser.add_argument('--repeat', type=int, default=20, help='timed runs per shape')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOP count')
    parser.add_argument(
        '--onnx', action='store_true',
        help='also export each shape to ONNX and time onnxruntime on the CPU (configs with '
        'plain convs in the neck only: use_dcn=False)')
    parser.add_argument(
        '--out', help='JSON output path (default: work_dirs/benchmark/<config name>.json)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=None, help='override config settings (key=value)')
    return parser.parse_args()


#: Elementwise and pooling ops: no multiply-adds, not counted (fvcore's convention counts
#: convolutions, matmuls and normalisations).
NON_MAC_OPS = ('aten::add', 'aten::add_', 'aten::mul', 'aten::mul_', 'aten::sigmoid', 'aten::sub',
               'aten::div', 'aten::max_pool2d')


def _deformable_conv_flops(inputs: List, outputs: List, weight_index: int) -> int:
    """FLOPs of a modulated deformable conv: a conv with the same weight.

    ``weight_index`` is 1 for ``torchvision::deform_conv2d`` (input, weight, offset, mask, ...)
    and 3 for mmcv's ``ModulatedDeformConv2dFunction`` (input, offset, mask, weight, ...).
    """
    from mmengine.analysis.jit_handles import get_shape
    weight_shape = get_shape(inputs[weight_index])
    out_shape = get_shape(outputs[0])
    kernel_numel = 1
    for side in weight_shape[1:]:
        kernel_numel *= side
    out_numel = 1
    for side in out_shape:
        out_numel *= side
    return out_numel * kernel_numel


def count_flops(model: nn.Module, inputs: torch.Tensor) -> Dict[str, object]:
    """FLOPs of one forward (``mode='tensor'``), and the non-elementwise ops left uncounted."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(
        'torchvision::deform_conv2d', lambda i, o: _deformable_conv_flops(i, o, weight_index=1))
    analyzer.set_op_handle('prim::PythonOp.ModulatedDeformConv2dFunction',
                           lambda i, o: _deformable_conv_flops(i, o, weight_index=3))
    analyzer.set_op_handle(**{op: None for op in NON_MAC_OPS})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    total = analyzer.total()
    return dict(gflops=total / 1e9, uncounted_ops=dict(analyzer.unsupported_ops()))


def benchmark_shape(model: nn.Module,
                    side: int,
                    device: str,
                    warmup: int,
                    repeat: int,
                    with_flops: bool = True) -> Dict[str, object]:
    """Measure one square input size.

    Returns:
        dict: ``shape``, ``forward_ms``, ``decode_ms``, ``total_ms`` and, with ``with_flops``,
        ``gflops`` and ``uncounted_ops``.
    """
    torch.manual_seed(0)
    inputs = torch.randn(1, 3, side, side, device=device)
    metas = [
        dict(
            batch_input_shape=(side, side),
            img_shape=(side, side),
            pad_shape=(side, side),
            ori_shape=(side, side),
            scale_factor=(1.0, 1.0))
    ]
    head = model.bbox_head
    with torch.inference_mode():
        outputs = model._forward(inputs)
        forward_ms = time_call(lambda: model._forward(inputs), device, warmup, repeat)
        decode_ms = time_call(
            lambda: head.predict_by_feat(*outputs, batch_img_metas=metas, rescale=False), device,
            warmup, repeat)
    result: Dict[str, object] = dict(
        shape=[side, side],
        forward_ms=forward_ms,
        decode_ms=decode_ms,
        total_ms=forward_ms + decode_ms)
    if with_flops:
        with torch.no_grad():
            result.update(count_flops(model, inputs))
    return result


def benchmark_onnxruntime(args: argparse.Namespace, side: int) -> Dict[str, object]:
    """Export the network at ``side`` x ``side`` and time it with onnxruntime (CPU).

    Returns:
        dict: :func:`deepmark_mm.deployment.benchmark_onnx`'s report (``ms_median`` etc.).
    """
    import tempfile

    from deepmark_mm.deployment import benchmark_onnx, export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = osp.join(tmp, f'deepmark_{side}.onnx')
        export_onnx(args.config, args.checkpoint, onnx_path, input_shape=(side, side),
                    cfg_options=parse_cfg_options(args.cfg_options), verify=False)
        return benchmark_onnx(onnx_path, shape=(side, side), repeats=args.repeat,
                              warmup=args.warmup, num_threads=torch.get_num_threads())


def main() -> None:
    args = parse_args()
    model = build_benchmark_detector(args.config, args.checkpoint, args.device, args.cfg_options)
    num_params = sum(p.numel() for p in model.parameters())
    report = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        device=device_name(args.device),
        torch=torch.__version__,
        params_M=num_params / 1e6,
        results=[])
    print(f'{osp.basename(args.config)}: {num_params / 1e6:.2f} M parameters on '
          f'{report["device"]}')
    print(f'{"input":>9} {"GFLOPs":>8} {"forward ms":>11} {"decode ms":>10} {"total ms":>9}'
          + (f' {"onnxruntime ms":>15}' if args.onnx else ''))
    for side in args.shape:
        row = benchmark_shape(model, side, args.device, args.warmup, args.repeat, not args.no_flops)
        if args.onnx:
            row['onnxruntime'] = benchmark_onnxruntime(args, side)
        report['results'].append(row)
        gflops = f'{row["gflops"]:8.2f}' if 'gflops' in row else f'{"-":>8}'
        onnx = f' {row["onnxruntime"]["ms_median"]:15.2f}' if args.onnx else ''
        print(f'{side:>4}x{side:<4} {gflops} {row["forward_ms"]:11.2f} {row["decode_ms"]:10.2f} '
              f'{row["total_ms"]:9.2f}{onnx}')
    write_benchmark_report(report, args.out, args.config)


if __name__ == '__main__':
    main()
