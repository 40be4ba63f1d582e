#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Milliseconds of the deformable (DCNv2) DLA-34 up-path: deepmark_mm.ops (torchvision) vs mmcv.

Builds the paper's DLA-34 neck (16 modulated deformable 3x3 convs, non-zero offsets and masks)
and times its forward on the backbone's feature maps of a square S-pixel input, once with
:class:`deepmark_mm.ops.ModulatedDeformConv2dPack` and, where full mmcv (compiled ops) is
installed, once more with the same weights in ``mmcv.ops.ModulatedDeformConv2dPack``. Also
reports the largest output difference between the two.

    python tools/analysis_tools/benchmark_dcn.py --shape 128 256 512 [--device cuda]
"""
import argparse
import copy
import platform

import torch
from torch import nn

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops
from deepmark_mm.models.necks import DLAUpNeck
from deepmark_mm.ops import ModulatedDeformConv2dPack
from deepmark_mm.utils import device_name, time_call, write_benchmark_report

#: Channels of the DLA-34 levels (strides 1 .. 32) the neck reads.
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Time the DCNv2 up-path of DLA-34')
    parser.add_argument('--shape', type=int, nargs='+', default=[128, 256, 512])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--out', default='work_dirs/benchmark/dcn.json')
    return parser.parse_args()


def with_mmcv_convs(neck: nn.Module) -> nn.Module:
    """A copy of ``neck`` whose deformable convs are mmcv's, holding the same weights."""
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


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=True)
    for name, module in neck.named_modules():
        if name.endswith('conv_offset'):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.normal_(module.bias, std=0.5)
    implementations = {'deepmark_mm.ops (torchvision)': neck}
    if mmcv_has_compiled_ops():
        implementations['mmcv.ops'] = with_mmcv_convs(neck)
    rows = []
    for side in args.shape:
        levels = [torch.randn(1, c, side // 2**k, side // 2**k, device=args.device)
                  for k, c in enumerate(DLA34_CHANNELS)]
        outputs, row = {}, dict(input=side)
        for label, model in implementations.items():
            model = model.to(args.device).eval()
            with torch.no_grad():
                outputs[label] = model(levels)[0]
                row[f'{label} ms'] = round(time_call(lambda: model(levels), args.device,
                                                     args.warmup, args.repeat), 2)
        if len(outputs) == 2:
            first, second = outputs.values()
            row['max_abs_diff'] = float((first - second).abs().max())
        rows.append(row)
        print(row)
    write_benchmark_report(
        dict(device=device_name(args.device), machine=platform.machine(),
             torch=torch.__version__, rows=rows), args.out, 'dcn')


if __name__ == '__main__':
    with torch.no_grad():
        main()
