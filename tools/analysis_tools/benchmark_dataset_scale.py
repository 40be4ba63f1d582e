#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Dataset load time and peak RSS at DeepFashion2 scale, on generated COCO-layout annotations.

    python tools/analysis_tools/benchmark_dataset_scale.py [--fraction 0.125] [--split train]
        [--work-dir work_dirs/scale_benchmark] [--out docs/benchmarks/dataset_scale.json]

Writes a COCO json with the real split sizes times ``--fraction`` (train: 191,961 images /
312,186 items; validation: 32,153 / 52,490), categories cycled 1..13, every item with its
category's real landmark count (all labelled), all images sharing one JPEG. Then a fresh process
builds ``DeepFashion2Dataset`` (``serialize_data=True``, the data list dataloader workers share)
and reports the load time, the peak RSS (``ru_maxrss``) and the serialized size.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

SPLITS = dict(train=(191961, 312186), validation=(32153, 52490))


def write_annotations(path: str, num_images: int, num_items: int) -> None:
    """A COCO json of ``num_images`` images and ``num_items`` items (see module docstring)."""
    from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
    images = [dict(id=i + 1, file_name='shared.jpg', width=640, height=480)
              for i in range(num_images)]
    annotations = []
    for index in range(num_items):
        label = index % 13
        start, end = KEYPOINT_SLICES[label]
        keypoints = [0] * (3 * NUM_KEYPOINTS)
        for slot in range(start, end):
            keypoints[3 * slot:3 * slot + 3] = [100 + slot % 200, 80 + slot % 150, 2]
        annotations.append(
            dict(id=index + 1, image_id=index % num_images + 1, category_id=label + 1,
                 bbox=[50, 40, 300, 350], area=105000, iscrowd=0, num_keypoints=end - start,
                 keypoints=keypoints))
    categories = [dict(id=c + 1, name=str(c + 1)) for c in range(13)]
    with open(path, 'w') as file:
        json.dump(dict(images=images, annotations=annotations, categories=categories), file)


def measure(root: str, ann_file: str) -> dict:
    """Build the dataset in this process; seconds, peak RSS and serialized bytes."""
    import resource

    import deepmark_mm  # noqa: F401
    from deepmark_mm.datasets import DeepFashion2Dataset
    start = time.perf_counter()
    dataset = DeepFashion2Dataset(
        data_root=root, ann_file=ann_file, data_prefix=dict(img='image/'), pipeline=[],
        serialize_data=True)
    seconds = time.perf_counter() - start
    return dict(images=len(dataset), load_s=round(seconds, 1),
                peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                serialized_mb=round(dataset.data_bytes.nbytes / 2**20, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fraction', type=float, default=0.125)
    parser.add_argument('--split', choices=sorted(SPLITS), default='train')
    parser.add_argument('--work-dir', default='work_dirs/scale_benchmark')
    parser.add_argument('--out', default=None, help='JSON result file')
    parser.add_argument('--measure', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: fresh RSS
        print(json.dumps(measure(args.work_dir, args.measure)))
        return
    import cv2
    import numpy as np
    os.makedirs(osp.join(args.work_dir, 'image'), exist_ok=True)
    cv2.imwrite(osp.join(args.work_dir, 'image', 'shared.jpg'), np.zeros((480, 640, 3), np.uint8))
    images, items = (round(n * args.fraction) for n in SPLITS[args.split])
    ann_file = f'{args.split}_{args.fraction:g}.json'
    start = time.perf_counter()
    write_annotations(osp.join(args.work_dir, ann_file), images, items)
    write_s = time.perf_counter() - start
    child = subprocess.run(
        [sys.executable, __file__, '--work-dir', args.work_dir, '--measure', ann_file],
        check=True, capture_output=True, text=True)
    result = dict(split=args.split, fraction=args.fraction, items=items, write_s=round(write_s, 1),
                  json_mb=round(osp.getsize(osp.join(args.work_dir, ann_file)) / 2**20, 1),
                  **json.loads(child.stdout.strip().splitlines()[-1]))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(result, file, indent=1)


if __name__ == '__main__':
    main()
