#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Cost of a DeepMark model's landmark heatmap channels: parameters, training step, decoding.

Builds the config's detector (random weights, float32, no optimizer wrapper or hooks), and on
random images with random garments (each with its category's landmarks inside its box):

* parameters of the whole detector and of the landmark heatmap branch;
* training step: ``detector.loss`` + ``backward`` of one batch, median over ``--repeat`` runs;
* peak memory: the process's maximum resident set size after the steps (given with one config
  only: run one config per process to compare memory);
* decoding: ``bbox_head.predict_by_feat`` of one image's head outputs, median.

With several configs the models are built in one process and timed interleaved, round by round
(each round runs every model once, in a rotating order), so a load change slows all alike.

    python tools/analysis_tools/benchmark_shared_channels.py CONFIG [CONFIG ...] --shape 512 \
        --batch 2 [--repeat 5] [--threads 2] [--cfg-options model.neck.use_dcn=False]

Prints one JSON line per config.
"""
import argparse
import json
import resource
from functools import partial
from typing import Callable

import torch

import deepmark_mm  # noqa: F401  (before mmdet: deepmark_mm provides mmcv's missing ops)
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.utils import build_benchmark_detector, cpu_name, interleaved_median_ms
from mmdet.structures import DetDataSample  # isort: skip
from mmdet.structures.bbox import HorizontalBoxes  # isort: skip
from mmengine.structures import InstanceData  # isort: skip


def random_samples(batch: int, size: int, garments: int, seed: int = 0) -> list:
    """``batch`` samples of ``garments`` random garments, all own slots labelled."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(batch):
        labels = torch.randint(0, len(KEYPOINT_SLICES), (garments, ), generator=gen)
        corner = torch.rand(garments, 2, generator=gen) * size * 0.5
        extent = (0.2 + 0.3 * torch.rand(garments, 2, generator=gen)) * size
        boxes = torch.cat([corner, corner + extent], dim=1)
        keypoints = torch.zeros(garments, NUM_KEYPOINTS, 2)
        visible = torch.zeros(garments, NUM_KEYPOINTS)
        for index, label in enumerate(labels.tolist()):
            start, end = KEYPOINT_SLICES[label]
            keypoints[index, start:end] = corner[index] + torch.rand(
                end - start, 2, generator=gen) * extent[index]
            visible[index, start:end] = 2
        instances = InstanceData(bboxes=HorizontalBoxes(boxes), labels=labels,
                                 keypoints=keypoints, keypoints_visible=visible)
        samples.append(DetDataSample(
            gt_instances=instances,
            metainfo=dict(img_shape=(size, size), pad_shape=(size, size),
                          batch_input_shape=(size, size), scale_factor=(1., 1.))))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+', help='one or more configs (timed interleaved)')
    parser.add_argument('--shape', type=int, default=512, help='square input side')
    parser.add_argument('--batch', type=int, default=2, help='training batch size')
    parser.add_argument('--garments', type=int, default=3, help='garments per image')
    parser.add_argument('--repeat', type=int, default=5, help='timed rounds')
    parser.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    parser.add_argument('--cfg-options', nargs='+', default=None, help='key=value overrides')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    inputs = torch.randn(args.batch, 3, args.shape, args.shape,
                         generator=torch.Generator().manual_seed(0))
    samples = random_samples(args.batch, args.shape, args.garments)
    detectors = []
    for config in args.configs:
        torch.manual_seed(0)
        detectors.append(build_benchmark_detector(config, None, 'cpu', args.cfg_options).train())

    def step(detector: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            detector.zero_grad(set_to_none=True)
            losses = detector.loss(inputs, samples)
            sum(losses.values()).backward()
        return run

    step_ms = interleaved_median_ms([step(detector) for detector in detectors], args.repeat)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    decoders = []
    with torch.no_grad():
        for detector in detectors:
            detector.zero_grad(set_to_none=True)
            detector.eval()
            outputs = detector.bbox_head(detector.extract_feat(inputs[:1]))
            decoders.append(partial(detector.bbox_head.predict_by_feat, *outputs,
                                    batch_img_metas=[samples[0].metainfo]))
        decode_ms = interleaved_median_ms(decoders, args.repeat)
    for config, detector, step_time, decode_time in zip(args.configs, detectors, step_ms,
                                                        decode_ms):
        head = detector.bbox_head
        print(json.dumps(dict(
            config=config, shape=args.shape, batch=args.batch, threads=args.threads,
            cpu=cpu_name(), kpt_heatmap_channels=head.num_kpt_heatmap_channels,
            params=sum(p.numel() for p in detector.parameters()),
            kpt_heatmap_branch_params=sum(p.numel() for p in head.kpt_heatmap_head.parameters()),
            train_step_ms=round(step_time, 1),
            peak_rss_mb=round(peak_mb) if len(detectors) == 1 else None,
            decode_ms=round(decode_time, 2), interleaved_with=len(detectors) - 1)))


if __name__ == '__main__':
    main()
