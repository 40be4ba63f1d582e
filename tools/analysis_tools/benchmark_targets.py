# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Time DeepMarkHead target building against the head's forward/backward.

Random DeepFashion2-like ground truth (1-3 garments per image, their own slots labelled, a few
unlabelled or occluded) at the training resolution (512x512 input, 128x128 stride-4 feature)::

    python tools/analysis_tools/benchmark_targets.py --batch-size 16 --device cpu --threads 1
"""
import argparse
import time
from typing import Callable, List, Tuple

import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

import deepmark_mm  # noqa: F401  (registers the head)
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.models.dense_heads import DeepMarkHead


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--input-size', type=int, default=512)
    parser.add_argument('--in-channels', type=int, default=64, help='neck output channels')
    parser.add_argument('--feat-channels', type=int, default=256)
    parser.add_argument('--repeat', type=int, default=5, help='timed runs of target building')
    parser.add_argument('--repeat-train', type=int, default=1, help='timed forward/backward runs')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def random_ground_truth(batch_size: int, input_size: int, device: str,
                        gen: torch.Generator) -> List[InstanceData]:
    """1-3 garments per image with labelled own-category landmarks inside their boxes."""
    batch = []
    for _ in range(batch_size):
        num = int(torch.randint(1, 4, (1, ), generator=gen))
        labels = torch.randint(0, NUM_CLASSES, (num, ), generator=gen)
        sizes = input_size * (0.2 + 0.6 * torch.rand(num, 2, generator=gen))
        corners = (input_size - sizes) * torch.rand(num, 2, generator=gen)
        boxes = torch.cat([corners, corners + sizes], dim=1)
        keypoints = torch.zeros(num, NUM_KEYPOINTS, 2)
        visible = torch.zeros(num, NUM_KEYPOINTS)
        for index, label in enumerate(labels.tolist()):
            start, end = KEYPOINT_SLICES[label]
            count = end - start
            keypoints[index, start:end] = corners[index] + sizes[index] * torch.rand(
                count, 2, generator=gen)
            visible[index, start:end] = torch.multinomial(
                torch.tensor([0.1, 0.3, 0.6]), count, replacement=True, generator=gen).float()
        gt = InstanceData()
        gt.bboxes = HorizontalBoxes(boxes.to(device))
        gt.labels = labels.to(device)
        gt.keypoints = keypoints.to(device)
        gt.keypoints_visible = visible.to(device)
        batch.append(gt)
    return batch


def timed(fn: Callable[[], object], repeat: int, device: str) -> Tuple[float, float]:
    """(mean, min) seconds of ``fn`` over ``repeat`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times) / len(times), min(times)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    device = args.device
    feat_size = args.input_size // 4
    head = DeepMarkHead(in_channels=args.in_channels, feat_channels=args.feat_channels).to(device)
    head.init_weights()
    gts = random_ground_truth(args.batch_size, args.input_size, device, gen)
    metas = [dict(batch_input_shape=(args.input_size, args.input_size))] * args.batch_size
    feat_shape = (args.batch_size, NUM_CLASSES, feat_size, feat_size)
    feats = (torch.randn(args.batch_size, args.in_channels, feat_size, feat_size, device=device), )

    targets = head.get_targets(gts, metas, feat_shape)
    target_mean, target_min = timed(lambda: head.get_targets(gts, metas, feat_shape), args.repeat,
                                    device)

    def train_step():
        head.zero_grad(set_to_none=True)
        losses = head.loss_by_feat(*head(feats), gts, metas)
        sum(losses.values()).backward()

    train_mean, train_min = timed(train_step, args.repeat_train, device)
    print(f'device={device} threads={torch.get_num_threads()} batch={args.batch_size} '
          f'input={args.input_size} feature={feat_size} in_channels={args.in_channels} '
          f'feat_channels={args.feat_channels}')
    print(f'garments={targets.num_objects} labelled landmarks={targets.num_landmarks}')
    print(f'target building           : mean {target_mean * 1e3:9.1f} ms, '
          f'min {target_min * 1e3:9.1f} ms ({args.repeat} runs)')
    print(f'head forward+loss+backward: mean {train_mean * 1e3:9.1f} ms, '
          f'min {train_min * 1e3:9.1f} ms ({args.repeat_train} runs, includes target building)')
    print(f'target building / train step = {target_mean / train_mean:.1%}')


if __name__ == '__main__':
    main()
