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
import json
import os
import os.path as osp
import platform
import time
from typing import Callable, Dict, List, Optional

import torch
from torch import nn


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
        '--out', help='JSON output path (default: work_dirs/benchmark/<config name>.json)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=None, help='override config settings (key=value)')
    return parser.parse_args()


def build_model(config: str,
                checkpoint: Optional[str],
                device: str,
                cfg_options: Optional[List[str]] = None) -> nn.Module:
    """The detector of ``config`` in eval mode on ``device`` (weights from ``checkpoint``)."""
    from mmdet.registry import MODELS
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import deepmark_mm  # noqa: F401  (registers the plugin)

    cfg = Config.fromfile(config)
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--opts', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--opts', *cfg_options]).opts)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    return model.to(device).eval()


#: Elementwise and pooling ops: no multiply-adds, not counted (fvcore's convention counts
#: convolutions, matmuls and normalisations).
NON_MAC_OPS = ('aten::add', 'aten::add_', 'aten::mul', 'aten::mul_', 'aten::sigmoid', 'aten::sub',
               'aten::div', 'aten::max_pool2d')


def _deformable_conv_flops(inputs: List, outputs: List) -> int:
    """FLOPs of ``ModulatedDeformConv2dFunction``: a conv with the same weight."""
    from mmengine.analysis.jit_handles import get_shape
    weight_shape = get_shape(inputs[3])  # (input, offset, mask, weight, bias, ...)
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
    analyzer.set_op_handle('prim::PythonOp.ModulatedDeformConv2dFunction', _deformable_conv_flops)
    analyzer.set_op_handle(**{op: None for op in NON_MAC_OPS})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    total = analyzer.total()
    return dict(gflops=total / 1e9, uncounted_ops=dict(analyzer.unsupported_ops()))


def time_call(fn: Callable[[], object], device: str, warmup: int, repeat: int) -> float:
    """Median milliseconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
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


def device_name(device: str) -> str:
    """Human-readable name of the measuring device."""
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            cpu = next(
                (line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), cpu)
    return f'{cpu} (CPU), {torch.get_num_threads()} threads'


def main() -> None:
    args = parse_args()
    model = build_model(args.config, args.checkpoint, args.device, args.cfg_options)
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
    print(f'{"input":>9} {"GFLOPs":>8} {"forward ms":>11} {"decode ms":>10} {"total ms":>9}')
    for side in args.shape:
        row = benchmark_shape(model, side, args.device, args.warmup, args.repeat, not args.no_flops)
        report['results'].append(row)
        gflops = f'{row["gflops"]:8.2f}' if 'gflops' in row else f'{"-":>8}'
        print(f'{side:>4}x{side:<4} {gflops} {row["forward_ms"]:11.2f} {row["decode_ms"]:10.2f} '
              f'{row["total_ms"]:9.2f}')
    out = args.out or osp.join('work_dirs', 'benchmark',
                               osp.splitext(osp.basename(args.config))[0] + '.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
