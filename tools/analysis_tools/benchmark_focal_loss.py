# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Time the heatmap focal loss (forward + backward): CenterNetFocalLoss vs mmdet's
GaussianFocalLoss on CenterNet's clamped sigmoid, on the demo's heatmap shapes.

    python tools/analysis_tools/benchmark_focal_loss.py [--batch-size 8] [--feat-size 32]
        [--threads 2] [--out docs/benchmarks/focal_loss.json]
"""
import argparse

import torch
from mmdet.models.losses import GaussianFocalLoss

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.models.losses import CenterNetFocalLoss, clamped_sigmoid
from deepmark_mm.utils import device_name, time_call, write_benchmark_report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--feat-size', type=int, default=32, help='heatmap side (input / 4)')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', help='JSON report path')
    return parser.parse_args()


def heatmap_case(shape, device: str, gen: torch.Generator):
    """Logits around the heads' -2.19 start and a sparse Gaussian-like target with exact peaks."""
    logits = (torch.randn(shape, generator=gen) * 2 - 2.19).to(device)
    target = torch.rand(shape, generator=gen).pow(20)
    target[target > 0.995] = 1.0
    return logits, target.to(device)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    fused, reference = CenterNetFocalLoss(), GaussianFocalLoss(alpha=2.0, gamma=4.0)
    report = dict(device=device_name(args.device), batch_size=args.batch_size,
                  feat_size=args.feat_size, results={})
    for name, channels in (('center heatmap', NUM_CLASSES), ('landmark heatmap', NUM_KEYPOINTS)):
        logits, target = heatmap_case(
            (args.batch_size, channels, args.feat_size, args.feat_size), args.device, gen)
        leaf = logits.clone().requires_grad_()

        def step(loss_fn):
            leaf.grad = None
            loss_fn().backward()

        fused_ms = time_call(lambda: step(lambda: fused(leaf, target, 10.0)), args.device, 2,
                             args.repeat)
        reference_ms = time_call(
            lambda: step(lambda: reference(clamped_sigmoid(leaf), target, avg_factor=10.0)),
            args.device, 2, args.repeat)
        report['results'][name] = dict(
            shape=list(logits.shape), fused_ms=round(fused_ms, 2),
            gaussian_focal_loss_ms=round(reference_ms, 2),
            speedup=round(reference_ms / fused_ms, 2))
        print(f'{name:17s} {tuple(logits.shape)}: CenterNetFocalLoss {fused_ms:.1f} ms, '
              f'GaussianFocalLoss {reference_ms:.1f} ms (x{reference_ms / fused_ms:.1f}), '
              f'forward + backward, {report["device"]}')
    write_benchmark_report(report, args.out, 'focal_loss')


if __name__ == '__main__':
    main()
