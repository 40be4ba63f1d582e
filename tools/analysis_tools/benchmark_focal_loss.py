# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Time the heatmap focal loss (forward + backward): CenterNetFocalLoss vs mmdet's
GaussianFocalLoss on CenterNet's clamped sigmoid, on the demo's heatmap shapes.

The targets are CenterNet Gaussians drawn at random peaks (``--peaks`` per image and channel
group, radius 1-3 pixels, as the demo's garments and landmarks at 32 x 32), so that the share of
non-zero target pixels is a realistic one; the logits come in float32 NCHW and, as in the demo's
bfloat16 channels-last training, in bfloat16 channels-last. Like the demo's training, it first
lets glibc keep freed memory (``retain_freed_memory``), unless ``--keep-malloc-default``.

    python tools/analysis_tools/benchmark_focal_loss.py [--batch-size 8] [--feat-size 32]
        [--threads 2] [--keep-malloc-default] [--out docs/benchmarks/focal_loss.json]
"""
import argparse

import torch
from mmdet.models.losses import GaussianFocalLoss

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.cpu_training import CenterNetFocalLoss, retain_freed_memory
from deepmark_mm.models.dense_heads.deepmark_head import clamped_sigmoid
from deepmark_mm.models.utils.centernet_gaussian import draw_gaussians
from deepmark_mm.utils import device_name, time_call, write_benchmark_report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--feat-size', type=int, default=32, help='heatmap side (input / 4)')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--keep-malloc-default', action='store_true',
                        help='do not call retain_freed_memory() (the demo config does, through '
                        'RetainFreedMemoryHook)')
    parser.add_argument('--out', help='JSON report path')
    return parser.parse_args()


def heatmap_case(shape, num_peaks: int, device: str, gen: torch.Generator):
    """Logits around the heads' -2.19 start and ``num_peaks`` Gaussians per image."""
    batch_size, channels, height, width = shape
    logits = torch.randn(shape, generator=gen) * 2 - 2.19
    target = torch.zeros(shape)
    count = batch_size * num_peaks
    draw_gaussians(target, torch.arange(batch_size).repeat_interleave(num_peaks),
                   torch.randint(0, channels, (count, ), generator=gen),
                   torch.stack([torch.randint(0, width, (count, ), generator=gen),
                                torch.randint(0, height, (count, ), generator=gen)], dim=1),
                   torch.randint(1, 4, (count, ), generator=gen))
    return logits.to(device), target.to(device)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    retained = False if args.keep_malloc_default else retain_freed_memory()
    gen = torch.Generator().manual_seed(0)
    fused, reference = CenterNetFocalLoss(), GaussianFocalLoss(alpha=2.0, gamma=4.0)
    report = dict(device=device_name(args.device), batch_size=args.batch_size,
                  feat_size=args.feat_size, retain_freed_memory=retained, results={})
    # about 2 garments and 60 labelled landmarks per demo image
    for name, channels, peaks in (('center heatmap', NUM_CLASSES, 2),
                                  ('landmark heatmap', NUM_KEYPOINTS, 60)):
        logits, target = heatmap_case(
            (args.batch_size, channels, args.feat_size, args.feat_size), peaks, args.device, gen)
        training_logits = logits.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)

        def forward_backward(leaf: torch.Tensor, loss_fn) -> float:
            def step():
                leaf.grad = None
                loss_fn(leaf).backward()
            return time_call(step, args.device, 2, args.repeat)

        fused_ms = forward_backward(logits.clone().requires_grad_(),
                                    lambda x: fused(x, target, 10.0))
        fused_training_ms = forward_backward(training_logits.clone().requires_grad_(),
                                             lambda x: fused(x, target, 10.0))
        reference_ms = forward_backward(
            logits.clone().requires_grad_(),
            lambda x: reference(clamped_sigmoid(x), target, avg_factor=10.0))
        reference_training_ms = forward_backward(
            training_logits.clone().requires_grad_(),
            lambda x: reference(clamped_sigmoid(x), target, avg_factor=10.0))
        report['results'][name] = dict(
            shape=list(logits.shape),
            target_nonzero_fraction=round(float((target > 0).float().mean()), 4),
            fused_ms=round(fused_ms, 2), gaussian_focal_loss_ms=round(reference_ms, 2),
            speedup=round(reference_ms / fused_ms, 2),
            bf16_channels_last_fused_ms=round(fused_training_ms, 2),
            bf16_channels_last_gaussian_focal_loss_ms=round(reference_training_ms, 2))
        print(f'{name:17s} {tuple(logits.shape)}, target non-zero on '
              f'{100 * report["results"][name]["target_nonzero_fraction"]:.2f} %: '
              f'CenterNetFocalLoss {fused_ms:.1f} ms, GaussianFocalLoss {reference_ms:.1f} ms '
              f'(float32 NCHW); {fused_training_ms:.1f} vs {reference_training_ms:.1f} ms '
              f'(bfloat16 channels-last); forward + backward, {report["device"]}')
    write_benchmark_report(report, args.out, 'focal_loss')


if __name__ == '__main__':
    main()
