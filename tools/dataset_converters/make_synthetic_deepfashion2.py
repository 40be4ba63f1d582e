# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Write the synthetic DeepFashion2-format data set (both layouts, train + validation).

    python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
        --num-train 500 --num-val 100 --size 128 --seed 0 [--workers N]

Layout: OUT_DIR/{train,validation}/{image,annos}/ and OUT_DIR/SPLIT/deepfashion2_SPLIT.json.

With ``--landmark-set toy``: the toy landmark set instead (3 shapes, 4 / 6 / 5 landmarks,
:mod:`deepmark_mm.testing.toy_keypoints`, for configs/deepmark/deepmark_toy-landmarks_example.py),
OUT_DIR/SPLIT/image/ and OUT_DIR/SPLIT/toy_SPLIT.json.
"""
import argparse
import os
import time

from deepmark_mm.testing.synthetic import coco_file_name, make_synthetic_deepfashion2
from deepmark_mm.testing.toy_keypoints import make_toy_keypoint_set


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='output data root')
    parser.add_argument('--num-train', type=int, default=500, help='training images')
    parser.add_argument('--num-val', type=int, default=100, help='validation images')
    parser.add_argument('--size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--max-garments', type=int, default=3, help='garments per image, at most')
    parser.add_argument('--landmark-set', choices=('deepfashion2', 'toy'), default='deepfashion2',
                        help='DeepFashion2 garments (default) or the toy 3-shape landmark set')
    parser.add_argument('--workers', type=int, default=len(os.sched_getaffinity(0)),
                        help='worker processes (default: the CPUs available); the images do not '
                        'depend on it')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.size < 32:
        raise SystemExit(f'--size must be at least 32 pixels, got {args.size}')
    start = time.perf_counter()
    if args.landmark_set == 'toy':
        files = make_toy_keypoint_set(args.out_dir, args.num_train, args.num_val, args.size,
                                      args.seed, args.max_garments)
        print(f'toy landmark set -> {files} in {time.perf_counter() - start:.1f} s')
        return
    splits = make_synthetic_deepfashion2(
        args.out_dir, args.num_train, args.num_val, args.size, args.seed,
        num_workers=args.workers, max_garments=args.max_garments)
    for split, coco in splits.items():
        print(f'{split}: {len(coco["images"])} images, {len(coco["annotations"])} garments -> '
              f'{args.out_dir}/{coco_file_name(split)} (+ image/, annos/)')
    print(f'done in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
