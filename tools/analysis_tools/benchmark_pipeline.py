# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Images/s of a config's training pipeline on one CPU core, from decoded images in memory.

Runs single-threaded (torch and OpenCV set to one thread) and reports images per CPU-second of
this process (what one core sustains, robust to other load on the machine) and per wall second.

    python tools/analysis_tools/benchmark_pipeline.py configs/_base_/datasets/deepfashion2.py

Everything after the image loading step runs (annotation loading, affine warp, flip, colour
jitter, packing). Images come from the config's training set when it can be read (``--source
dataset``, default ``auto``), otherwise from the synthetic generator at ``--image-size`` pixels
(DeepFashion2 photos are about 600-800 pixels on a side). ``--input-size`` overrides the config's
warp size (``RandomCenterAffine`` / ``CenterAffine``). For instance, on real DeepFashion2 photos:

    python tools/analysis_tools/benchmark_pipeline.py configs/_base_/datasets/deepfashion2.py \
        --cfg-options \
        train_dataloader.dataset.data_root=../shared/deepfashion2-samples/kgdet_demo_dataset/ \
        train_dataloader.dataset.ann_file=demo_dataset-32.json \
        train_dataloader.dataset.data_prefix.img=image/
"""
import argparse
import copy
import time
from typing import List

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config with train_dataloader.dataset.pipeline')
    parser.add_argument('--num-images', type=int, default=64, help='distinct images in memory')
    parser.add_argument('--repeat', type=int, default=5, help='passes over the images')
    parser.add_argument('--source', choices=['auto', 'dataset', 'synthetic'], default='auto')
    parser.add_argument('--image-size', type=int, default=640, help='synthetic image side')
    parser.add_argument('--input-size', type=int, default=None, help='override the warp size')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.dataset.data_root=...')
    return parser.parse_args()


def synthetic_samples(num_images: int, size: int, seed: int) -> List[dict]:
    """Decoded synthetic images with their dataset ``data_info``."""
    from deepmark_mm.datasets.deepfashion2_format import (coco_annotation_to_instance,
                                                          raw_item_to_coco_annotation,
                                                          sorted_item_keys)
    from deepmark_mm.testing.synthetic import synthesize_sample
    samples = []
    for index in range(num_images):
        img, anno = synthesize_sample(np.random.default_rng([seed, index]), size)
        ok, encoded = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        img = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        instances = [
            coco_annotation_to_instance(
                raw_item_to_coco_annotation(anno[key], key, index + 1, number + 1), key)
            for number, key in enumerate(sorted_item_keys(anno, 'synthetic'))
        ]
        samples.append(
            dict(img_path=f'synthetic/{index + 1:06d}.jpg', img_id=index + 1, height=size,
                 width=size, instances=instances, img=img))
    return samples


def dataset_samples(cfg: Config, num_images: int) -> List[dict]:
    """Decoded images of the config's training set with their ``data_info``."""
    from mmdet.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.pipeline = []
    dataset = DATASETS.build(dataset_cfg)
    samples = []
    for index in range(min(num_images, len(dataset))):
        info = dataset.get_data_info(index)
        info['img'] = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
        if info['img'] is None:
            raise FileNotFoundError(info['img_path'])
        samples.append(info)
    return samples


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import TRANSFORMS
    from mmengine.dataset import Compose

    import deepmark_mm  # noqa: F401  (registers the transforms)

    steps = [step for step in cfg.train_dataloader.dataset.pipeline
             if not step['type'].startswith('LoadImageFrom')]
    if args.input_size is not None:
        for step in steps:
            if step['type'] in ('RandomCenterAffine', 'CenterAffine'):
                step['input_size'] = args.input_size
    pipeline = Compose([TRANSFORMS.build(step) for step in steps])

    samples, source = [], args.source
    if source in ('auto', 'dataset'):
        try:
            samples = dataset_samples(cfg, args.num_images)
            source = 'dataset'
        except Exception as error:  # noqa: BLE001  (fall back to synthetic images)
            if args.source == 'dataset':
                raise
            print(f'training set not readable ({type(error).__name__}: {error}); '
                  'using synthetic images')
    if not samples:
        samples = synthetic_samples(args.num_images, args.image_size, args.seed)
        source = f'synthetic {args.image_size}x{args.image_size}'
    for sample in samples:
        sample['ori_shape'] = sample['img_shape'] = sample['img'].shape[:2]

    np.random.seed(args.seed)
    pipeline(dict(samples[0]))  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    for _ in range(args.repeat):
        for sample in samples:
            packed = pipeline(dict(sample))
            count += packed is not None
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    shape = tuple(packed['inputs'].shape) if packed is not None else None
    # CPU time is what one core spends; wall time also counts waiting for a busy CPU.
    print(f'{count / cpu:.1f} images/s per core (CPU time, {1000 * cpu / count:.2f} ms per '
          f'image); {count / wall:.1f} images/s wall clock; {count} samples from {source}, '
          f'output {shape}')


if __name__ == '__main__':
    main()
