#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Milliseconds of the stand-in ``mmcv._ext`` kernels (torchvision) vs mmcv's compiled ones.

Two tasks, each timed interleaved in one process (rounds rotate the order, so a change of the
machine's load slows all alike) and checked for the largest output difference:

* ``dla``: the paper's DLA-34 up-path (16 modulated deformable 3x3 convs, non-zero offsets and
  masks) on the backbone's feature maps of a square S-pixel input, with
  :class:`deepmark_mm.ops.ModulatedDeformConv2dPack` (torchvision called directly) and with
  ``mmcv.ops.ModulatedDeformConv2dPack`` (same weights) on the stand-in and, where full mmcv is
  installed, on the compiled kernels;
* ``roi_align``: ``mmcv.ops.roi_align`` (7x7, adaptive sampling, aligned) of R rois on the
  stride-4 FPN level of an 800x1333 image (256 x 200 x 334), stand-in vs compiled.

``--backward`` times forward plus backward.

    python tools/analysis_tools/benchmark_dcn.py --task dla roi_align --shape 128 256 512
"""
import argparse
import contextlib
import copy
import platform

import torch
from torch import nn

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops, use_stand_in_kernels
from deepmark_mm.models.necks import DLAUpNeck
from deepmark_mm.ops import ModulatedDeformConv2dPack
from deepmark_mm.utils import device_name, interleaved_median_ms, write_benchmark_report

#: Channels of the DLA-34 levels (strides 1 .. 32) the neck reads.
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Time the stand-in mmcv kernels vs mmcv')
    parser.add_argument('--task', nargs='+', choices=['dla', 'roi_align'],
                        default=['dla', 'roi_align'])
    parser.add_argument('--shape', type=int, nargs='+', default=[128, 256, 512])
    parser.add_argument('--rois', type=int, default=1000)
    parser.add_argument('--backward', action='store_true', help='time forward + backward')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--out', default='work_dirs/benchmark/dcn.json')
    return parser.parse_args()


def with_mmcv_convs(neck: nn.Module) -> nn.Module:
    """A copy of ``neck`` whose deformable convs are mmcv's own, holding the same weights."""
    from mmcv.ops import ModulatedDeformConv2dPack as MmcvPack
    neck = copy.deepcopy(neck)
    for name, module in list(neck.named_modules()):
        if isinstance(module, ModulatedDeformConv2dPack):
            parent = neck.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else neck
            replacement = MmcvPack(module.in_channels, module.out_channels, module.kernel_size,
                                   padding=module.padding, deform_groups=module.deform_groups)
            replacement.load_state_dict(module.state_dict())
            setattr(parent, name.rsplit('.', 1)[-1], replacement)
    return neck


def kernel_choices() -> dict:
    """Label -> context manager factory selecting the kernels mmcv.ops' Python ops call."""
    choices = {'stand-in (torchvision)': use_stand_in_kernels}
    if mmcv_has_compiled_ops():
        choices['mmcv compiled'] = contextlib.nullcontext
    return choices


def timed(fns: dict, args: argparse.Namespace) -> dict:
    """Interleaved median ms of each of ``fns`` (label -> (kernel context factory, () ->
    Tensor)), forward (and backward) under its kernels, and the largest output difference from
    the first."""
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


def dla_rows(args: argparse.Namespace) -> list:
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=True)
    for name, module in neck.named_modules():
        if name.endswith('conv_offset'):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.normal_(module.bias, std=0.5)
    neck = neck.to(args.device).eval()
    mmcv_neck = with_mmcv_convs(neck).to(args.device).eval()
    rows = []
    for side in args.shape:
        levels = [torch.randn(1, c, side // 2**k, side // 2**k, device=args.device)
                  for k, c in enumerate(DLA34_CHANNELS)]
        fns = {'deepmark_mm.ops (torchvision)': (contextlib.nullcontext,
                                                 lambda: neck(levels)[0])}
        for label, kernels in kernel_choices().items():
            fns[f'mmcv.ops on {label}'] = (kernels, lambda: mmcv_neck(levels)[0])
        rows.append(dict(task='dla34 up-path', input=side, **timed(fns, args)))
        print(rows[-1])
    return rows


def roi_align_rows(args: argparse.Namespace) -> list:
    from mmcv.ops import roi_align
    generator = torch.Generator().manual_seed(0)
    feature = torch.randn(1, 256, 200, 334, generator=generator).to(args.device)
    feature.requires_grad_(args.backward)
    corner = torch.rand(args.rois, 2, generator=generator) * torch.tensor([1233., 700.])
    extent = torch.rand(args.rois, 2, generator=generator) * 104 + 8  # FPN level 0: < 112 px
    rois = torch.cat([torch.zeros(args.rois, 1), corner, corner + extent], 1).to(args.device)
    fns = {label: (kernels, lambda: roi_align(feature, rois, (7, 7), 0.25, 0, 'avg', True))
           for label, kernels in kernel_choices().items()}
    row = dict(task='roi_align', rois=args.rois, feature='1x256x200x334', **timed(fns, args))
    print(row)
    return [row]


def main() -> None:
    args = parse_args()
    rows = []
    if 'dla' in args.task:
        rows += dla_rows(args)
    if 'roi_align' in args.task:
        rows += roi_align_rows(args)
    write_benchmark_report(
        dict(device=device_name(args.device), machine=platform.machine(),
             torch=torch.__version__, backward=args.backward, rows=rows), args.out, 'dcn')


if __name__ == '__main__':
    main()
