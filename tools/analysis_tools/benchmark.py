#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Time DeepMark: one script, one ``--task`` per measurement (mmdet's ``benchmark.py`` layout).

``inference`` (default)
    parameters, GFLOPs (fvcore's convention: one multiply-add = one FLOP; modulated deformable
    convs count as the 3x3 convs they are) and ms/image of the forward (backbone + neck + head)
    and of the decoding (``DeepMarkHead.predict_by_feat``), per square input side; ``--onnx``
    also exports each side and times onnxruntime (plain-conv necks only).
``tta``
    ms/image of the paper's Table 4 columns: ``single`` (preprocess + forward + decode), ``nms``
    (+ per-class soft-NMS), ``flip`` (image and mirror in one batch-2 forward, fused, one decode),
    ``flip_ms`` (flip at every ``--scales`` view, soft-NMS merge); plus the network alone on 1 and
    2 images. The data pipeline (loading, affine warp) is not timed.
``decode``
    the decoding against the forward on CPU, two decodings of the same maps timed interleaved
    round by round, their predictions checked equal: "max-pool" (mmdet's ``get_local_maximum``
    + dense top-K) and "new" (the code as it is: top-K of the compacted local maxima). The
    README's "decoding <= 5 % of the forward".
``dcn``
    the stand-in ``mmcv._ext`` kernels (torchvision) against mmcv's compiled ones where
    installed, interleaved, with the largest output difference: the DLA-34 up-path (16
    modulated deformable 3x3 convs) at each ``--shape``, and ``mmcv.ops.roi_align`` of
    ``--rois`` rois on the stride-4 FPN level of an 800x1333 image (0 skips it).

Inputs are random (decoding always handles ``test_cfg.topk`` candidates, so the cost does not
depend on the content); weights are random unless ``--checkpoint``. Every task writes a JSON
report naming the device (default ``work_dirs/benchmark/<config>[_task].json``).

    python tools/analysis_tools/benchmark.py configs/deepmark_dla34_512.py --shape 128 256 512
    python tools/analysis_tools/benchmark.py CONFIG --task tta --shape 512 --device cuda
    python tools/analysis_tools/benchmark.py configs/deepmark_dla34_512.py --task decode \
        --cfg-options model.neck.use_dcn=False model.backbone.pretrained=False --shape 512
    python tools/analysis_tools/benchmark.py --task dcn --shape 128 256 512
"""
import argparse
import contextlib
import copy
import os.path as osp
import platform
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

import deepmark_mm  # noqa: F401  (first: lets mmcv-lite import mmcv.ops)
import numpy as np
import torch
from mmengine.config import DictAction
from torch import nn

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _timing import (benchmark_onnx, device_name, interleaved_median_ms, time_call,  # noqa: E402
                     write_report)

#: Per-task defaults of the shared options (those the task's numbers were measured with).
TASK_DEFAULTS = dict(
    inference=dict(shape=[512], warmup=5, repeat=20),
    tta=dict(shape=[512], warmup=3, repeat=10),
    decode=dict(shape=[512], warmup=0, repeat=5, threads=2, device='cpu'),
    dcn=dict(shape=[128, 256, 512], warmup=2, repeat=5))
#: Elementwise and pooling ops: no multiply-adds, not counted (fvcore counts convolutions,
#: matmuls and normalisations).
NON_MAC_OPS = ('aten::add', 'aten::add_', 'aten::mul', 'aten::mul_', 'aten::sigmoid', 'aten::sub',
               'aten::div', 'aten::max_pool2d')
TTA_MODES = ('single', 'nms', 'flip', 'flip_ms')
#: The paper's Table 4 (Hourglass-104, 512 x 512, RTX 2080 Ti).
PAPER_TTA_MS = dict(single=73, nms=76, flip=165, flip_ms=315)
#: Channels of the DLA-34 levels (strides 1 .. 32) the neck reads.
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Time DeepMark (see the module docstring)')
    parser.add_argument('config', nargs='?', help='config file (all tasks but dcn)')
    parser.add_argument('--task', choices=list(TASK_DEFAULTS), default='inference')
    parser.add_argument('--checkpoint', help='checkpoint to load (random weights when omitted)')
    parser.add_argument('--shape', type=int, nargs='+', help='square input sides')
    parser.add_argument('--device', help='torch device (default: cuda if available; decode: cpu)')
    parser.add_argument('--warmup', type=int, help='untimed runs (rounds) per measurement')
    parser.add_argument('--repeat', type=int, help='timed runs (rounds) per measurement')
    parser.add_argument('--threads', type=int, help='torch intra-op threads (decode: 2)')
    parser.add_argument('--out', help='JSON report (default: work_dirs/benchmark/...)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    parser.add_argument('--no-flops', action='store_true', help='inference: skip the FLOP count')
    parser.add_argument('--onnx', action='store_true', help='inference: also time onnxruntime')
    parser.add_argument('--scales', type=float, nargs='+', default=[1.0, 0.75],
                        help='tta: flip-ms view scales')
    parser.add_argument('--fp16', action='store_true', help='tta: under float16 autocast')
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 8], help='decode: batches')
    parser.add_argument('--no-flip', action='store_true', help='decode: skip flip-fused maps')
    parser.add_argument('--rois', type=int, default=1000, help='dcn: roi_align rois (0: skip)')
    parser.add_argument('--backward', action='store_true', help='dcn: forward + backward')
    args = parser.parse_args(argv)
    defaults = dict(device='cuda' if torch.cuda.is_available() else 'cpu')
    for key, value in dict(defaults, **TASK_DEFAULTS[args.task]).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.task != 'dcn' and not args.config:
        parser.error(f'--task {args.task} needs a config')
    if args.task == 'decode' and (len(args.shape) != 1 or not args.device.startswith('cpu')):
        parser.error('--task decode times one --shape on the CPU')
    return args


def build_model(config: str, checkpoint: Optional[str], device: str,
                cfg_options: Optional[dict] = None) -> nn.Module:
    """The detector of ``config`` in eval mode (a TTA config's inner one), by the fit rule."""
    from deepmark_mm.apis.config_resolution import load_deepmark_config
    from deepmark_mm.deployment import build_detector
    cfg = load_deepmark_config(config, cfg_options)
    if 'module' in cfg.model:  # model=dict(type='DeepMarkTTAModel', module=detector)
        cfg.model = cfg.model.module
    return build_detector(cfg, checkpoint, device)


# ----------------------------------------------------------------------------- inference
def _deformable_conv_flops(inputs: List, outputs: List, weight_index: int) -> int:
    """FLOPs of a modulated deformable conv: a conv with the same weight (``weight_index`` 1 for
    ``torchvision::deform_conv2d``, 3 for mmcv's ``ModulatedDeformConv2dFunction``)."""
    from mmengine.analysis.jit_handles import get_shape
    return int(np.prod(get_shape(outputs[0]))) * int(np.prod(get_shape(inputs[weight_index])[1:]))


def count_flops(model: nn.Module, inputs: torch.Tensor) -> Dict[str, object]:
    """GFLOPs of one forward (``inputs`` (1, 3, H, W)) and the non-elementwise ops uncounted."""
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


def run_inference(args: argparse.Namespace, model: nn.Module, report: dict) -> None:
    print(f'{"input":>9} {"GFLOPs":>8} {"forward ms":>11} {"decode ms":>10} {"total ms":>9}'
          + (f' {"onnxruntime ms":>15}' if args.onnx else ''))
    report.update(params_M=sum(p.numel() for p in model.parameters()) / 1e6, results=[])
    for side in args.shape:
        torch.manual_seed(0)
        inputs = torch.randn(1, 3, side, side, device=args.device)
        metas = [dict(batch_input_shape=(side, side), img_shape=(side, side),
                      pad_shape=(side, side), ori_shape=(side, side), scale_factor=(1.0, 1.0))]
        with torch.inference_mode():
            outputs = model._forward(inputs)
            forward_ms = time_call(lambda: model._forward(inputs), args.device, args.warmup,
                                   args.repeat)
            decode_ms = time_call(
                lambda: model.bbox_head.predict_by_feat(*outputs, batch_img_metas=metas,
                                                        rescale=False),
                args.device, args.warmup, args.repeat)
        row = dict(shape=[side, side], forward_ms=forward_ms, decode_ms=decode_ms,
                   total_ms=forward_ms + decode_ms)
        if not args.no_flops:
            with torch.no_grad():
                row.update(count_flops(model, inputs))
        if args.onnx:
            from deepmark_mm.deployment import export_onnx
            with tempfile.TemporaryDirectory() as tmp:
                onnx_path = osp.join(tmp, f'deepmark_{side}.onnx')
                export_onnx(args.config, args.checkpoint, onnx_path, input_shape=(side, side),
                            cfg_options=args.cfg_options, verify=False)
                row['onnxruntime'] = benchmark_onnx(onnx_path, shape=(side, side),
                                                    repeats=args.repeat, warmup=args.warmup,
                                                    num_threads=torch.get_num_threads())
        report['results'].append(row)
        gflops = f'{row["gflops"]:8.2f}' if 'gflops' in row else f'{"-":>8}'
        onnx = f' {row["onnxruntime"]["ms_median"]:15.2f}' if args.onnx else ''
        print(f'{side:>4}x{side:<4} {gflops} {row["forward_ms"]:11.2f} {row["decode_ms"]:10.2f} '
              f'{row["total_ms"]:9.2f}{onnx}')


# ----------------------------------------------------------------------------- tta
def make_view(original: np.ndarray, side: int) -> tuple:
    """(input (3, side, side) uint8 tensor, DetDataSample) of a square image resized to side."""
    import cv2
    from mmdet.structures import DetDataSample
    scale = side / original.shape[0]
    img = cv2.resize(original, (side, side), interpolation=cv2.INTER_LINEAR)
    sample = DetDataSample()
    sample.set_metainfo(dict(img_id=0, ori_shape=original.shape[:2], img_shape=(side, side),
                             scale_factor=(scale, scale),
                             homography_matrix=np.diag([scale, scale, 1.0]).astype(np.float32)))
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), sample


def run_tta(args: argparse.Namespace, detector: nn.Module, report: dict) -> None:
    from deepmark_mm.models.test_time_augs import DeepMarkTTAModel
    wrappers = dict(nms=DeepMarkTTAModel(detector, flip=False, nms=True).eval(),
                    flip=DeepMarkTTAModel(detector, flip=True).eval(),
                    flip_ms=DeepMarkTTAModel(detector, flip=True).eval())
    report.update(scales=list(args.scales), precision='fp16 autocast' if args.fp16 else 'fp32',
                  paper_ms_hourglass104_512=PAPER_TTA_MS, results=[])
    header = ['input', 'forward', 'forward x2', 'single', 'NMS', 'flip', 'flip+ms']
    print('  '.join(f'{h:>10}' for h in header) + '   (ms / image)')
    for side in args.shape:
        original = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
        view_sides = [max(1, round(side * scale)) for scale in args.scales]
        views = [make_view(original, view_side) for view_side in view_sides]
        full = make_view(original, side)

        def batch_of(selected):
            return dict(inputs=[[img] for img, _ in selected],
                        data_samples=[[sample] for _, sample in selected])

        single = dict(inputs=[full[0]], data_samples=[full[1]])
        runs = dict(single=lambda: detector.test_step(single),
                    nms=lambda: wrappers['nms'].test_step(batch_of([full])),
                    flip=lambda: wrappers['flip'].test_step(batch_of([full])),
                    flip_ms=lambda: wrappers['flip_ms'].test_step(batch_of(views)))
        network_input = detector.data_preprocessor(single, False)['inputs']
        doubled = torch.cat([network_input, network_input.flip(dims=[3])])
        row: Dict[str, object] = dict(shape=[side, side], views=view_sides)
        timing = (args.device, args.warmup, args.repeat)
        autocast = torch.autocast(torch.device(args.device).type, dtype=torch.float16,
                                  enabled=args.fp16)
        with torch.inference_mode(), autocast:
            row['forward_ms'] = time_call(lambda: detector._forward(network_input), *timing)
            row['forward_x2_ms'] = time_call(lambda: detector._forward(doubled), *timing)
            for mode in TTA_MODES:
                row[f'{mode}_ms'] = time_call(runs[mode], *timing)
        report['results'].append(row)
        values = [row['forward_ms'], row['forward_x2_ms']] + [row[f'{m}_ms'] for m in TTA_MODES]
        print(f'{f"{side}x{side}":>10}  ' + '  '.join(f'{v:10.2f}' for v in values))
    print('paper (Hourglass-104, 512x512): ' + ', '.join(f'{mode} {ms} ms'
                                                         for mode, ms in PAPER_TTA_MS.items()))


# ----------------------------------------------------------------------------- decode
@contextlib.contextmanager
def reference_decoding():
    """Run the decoding with mmdet's ``get_local_maximum`` and a dense top-K ("max-pool")."""
    # decode-task imports (kept apart: the decoding modules they name)
    from deepmark_mm.models.task_modules import deepmark_codec as deepmark_decode
    from deepmark_mm.models.utils.peak_topk import dense_topk_local_maxima
    new = deepmark_decode.topk_local_maxima
    # every landmark peak, also those below the grouping's score_thr
    deepmark_decode.topk_local_maxima = dense_topk_local_maxima
    try:
        yield
    finally:
        deepmark_decode.topk_local_maxima = new


def _same(old: List, new: List) -> bool:
    return all(
        torch.equal(a.get(key), b.get(key)) for a, b in zip(old, new)
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'))


def measure_decoding(model: nn.Module, maps: List[torch.Tensor], forward: Callable[[], object],
                     metas: List[dict], repeat: int) -> Dict[str, float]:
    """Median ms of forward, max-pool and new decoding over ``repeat`` rounds, and whether the
    two decodings of ``maps`` (the head's five (B, C, H, W) maps) are identical."""
    head = model.bbox_head

    def decode():
        return head.codec.decode(maps, metas, rescale=False)

    def reference():
        with reference_decoding():
            return decode()

    same = _same(reference(), decode())
    fns = {'forward': forward, 'max-pool': reference, 'new': decode}
    times = interleaved_median_ms(list(fns.values()), repeat, warmup=0)
    row = {f'{key}_ms': ms for key, ms in zip(fns, times)}
    row['identical'] = same
    return row


def run_decode(args: argparse.Namespace, model: nn.Module, report: dict) -> None:
    # decode-task imports (kept apart: the decoding modules they name)
    from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices
    from deepmark_mm.models.test_time_augs.flip_fusion import fuse_flip_outputs
    side = args.shape[0]
    report.update(shape=side, rows=[])
    print(f'{"maps":>14} {"forward ms":>11} {"max-pool":>9} {"new decode":>11} '
          f'{"max-pool %":>10} {"new %":>6} {"speed-up":>8} identical')
    cases = [(f'batch {b}', b, False) for b in args.batch]
    if not args.no_flip:
        cases.append(('flip-fused 1', 1, True))
    with torch.inference_mode():
        for name, batch, flip in cases:
            torch.manual_seed(0)
            inputs = torch.randn(batch, 3, side, side)
            if flip:
                inputs = torch.cat([inputs, inputs.flip(3)])

            def forward(inputs=inputs, flip=flip):
                maps = [level[-1] for level in model._forward(inputs)]
                maps[0], maps[4] = maps[0].sigmoid(), maps[4].sigmoid()
                if flip:
                    maps = list(fuse_flip_outputs(*maps, torch.tensor(flip_indices())))
                return maps

            row = measure_decoding(model, forward(), forward,
                                   [dict(batch_input_shape=(side, side))] * batch, args.repeat)
            row.update(maps=name, batch=batch)
            report['rows'].append(row)
            forward_ms = row['forward_ms']
            print(f'{name:>14} {forward_ms:11.1f} {row["max-pool_ms"]:9.1f} '
                  f'{row["new_ms"]:11.1f} {100 * row["max-pool_ms"] / forward_ms:10.1f} '
                  f'{100 * row["new_ms"] / forward_ms:6.1f} '
                  f'{row["max-pool_ms"] / row["new_ms"]:8.2f} {row["identical"]}')


# ----------------------------------------------------------------------------- dcn
def _kernel_choices() -> dict:
    """Label -> context manager factory selecting the kernels mmcv.ops' Python ops call."""
    from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops, use_stand_in_kernels
    choices = {'stand-in (torchvision)': use_stand_in_kernels}
    if mmcv_has_compiled_ops():
        choices['mmcv compiled'] = contextlib.nullcontext
    return choices


def _timed_kernels(fns: dict, args: argparse.Namespace) -> dict:
    """Interleaved median ms of each of ``fns`` (label -> (kernel context factory, () ->
    Tensor)) and the largest output difference from the first."""
    sync = torch.cuda.synchronize if args.device.startswith('cuda') else (lambda: None)

    def run(label):
        kernels, forward = fns[label]
        with kernels(), torch.set_grad_enabled(args.backward):
            out = forward()
            if args.backward:
                out.square().mean().backward()
        sync()
        return out.detach()

    labels = list(fns)
    times = interleaved_median_ms([lambda label=label: run(label) for label in labels],
                                  args.repeat, args.warmup)
    row = {f'{label} ms': round(ms, 2) for label, ms in zip(labels, times)}
    reference = run(labels[0])
    for label in labels[1:]:
        row[f'max_abs_diff {label}'] = float((run(label) - reference).abs().max())
    return row


def run_dcn(args: argparse.Namespace, report: dict) -> None:
    from mmcv.ops import ModulatedDeformConv2dPack as MmcvPack
    from mmcv.ops import roi_align

    from deepmark_mm.models.necks import DLAUpNeck
    from deepmark_mm.ops import ModulatedDeformConv2dPack
    report.update(machine=platform.machine(), backward=args.backward, rows=[])
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=True)
    for name, module in neck.named_modules():
        if name.endswith('conv_offset'):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.normal_(module.bias, std=0.5)
    neck = neck.to(args.device).eval()
    mmcv_neck = copy.deepcopy(neck)  # the same weights in mmcv's own deformable convs
    for name, module in list(mmcv_neck.named_modules()):
        if isinstance(module, ModulatedDeformConv2dPack):
            parent = mmcv_neck.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else mmcv_neck
            replacement = MmcvPack(module.in_channels, module.out_channels, module.kernel_size,
                                   padding=module.padding, deform_groups=module.deform_groups)
            replacement.load_state_dict(module.state_dict())
            setattr(parent, name.rsplit('.', 1)[-1], replacement)
    mmcv_neck = mmcv_neck.to(args.device).eval()
    for side in args.shape:
        levels = [torch.randn(1, c, side // 2**k, side // 2**k, device=args.device)
                  for k, c in enumerate(DLA34_CHANNELS)]
        fns = {'deepmark_mm.ops (torchvision)': (contextlib.nullcontext, lambda: neck(levels)[0])}
        for label, kernels in _kernel_choices().items():
            fns[f'mmcv.ops on {label}'] = (kernels, lambda: mmcv_neck(levels)[0])
        report['rows'].append(dict(task='dla34 up-path', input=side, **_timed_kernels(fns, args)))
        print(report['rows'][-1])
    if args.rois:
        generator = torch.Generator().manual_seed(0)
        feature = torch.randn(1, 256, 200, 334, generator=generator).to(args.device)
        feature.requires_grad_(args.backward)
        corner = torch.rand(args.rois, 2, generator=generator) * torch.tensor([1233., 700.])
        extent = torch.rand(args.rois, 2, generator=generator) * 104 + 8  # FPN level 0: < 112
        rois = torch.cat([torch.zeros(args.rois, 1), corner, corner + extent], 1).to(args.device)
        fns = {label: (kernels, lambda: roi_align(feature, rois, (7, 7), 0.25, 0, 'avg', True))
               for label, kernels in _kernel_choices().items()}
        report['rows'].append(dict(task='roi_align', rois=args.rois, feature='1x256x200x334',
                                   **_timed_kernels(fns, args)))
        print(report['rows'][-1])


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = dict(config=args.config, checkpoint=args.checkpoint, cfg_options=args.cfg_options,
                  device=device_name(args.device), torch=torch.__version__)
    if args.task == 'dcn':
        run_dcn(args, report)
        write_report(report, args.out, 'dcn')
        return report
    model = build_model(args.config, args.checkpoint, args.device, args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    print(f'{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, '
          f'{report["device"]}')
    if args.task == 'inference':
        run_inference(args, model, report)
    elif args.task == 'tta':
        run_tta(args, model, report)
        name += '_tta'
    else:
        run_decode(args, model, report)
        name += f'_decode_{args.shape[0]}'
    write_report(report, args.out, name)
    return report


if __name__ == '__main__':
    main()
