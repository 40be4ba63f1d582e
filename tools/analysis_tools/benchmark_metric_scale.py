#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2Metric time and peak RSS on the validation split's size (pycocotools).

    python tools/analysis_tools/benchmark_metric_scale.py [--fraction 1] [--dets 100]
        [--work-dir /tmp/deepmark_scale]
        [--out docs/benchmarks/metric_scale.json]

Ground truth: the generated validation split of ``benchmark_dataset_scale.py`` (32,153 images /
52,490 garments times ``--fraction``, real category shares) as the converter's COCO json, given as
``ann_file``. Predictions, made on the fly and fed to ``process`` 32 images at a time: per image,
every garment found (box and landmarks jittered, its label) plus false detections of random labels,
boxes and landmarks up to ``--dets``, random scores. Each backend runs in a fresh process; reported:
``process`` seconds, ``evaluate`` seconds (matching, accumulation, summaries), CPU seconds, peak RSS
(``VmHWM``, with the ground truth loaded) and the 11 numbers.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(1, osp.dirname(osp.abspath(__file__)))

BATCH = 32


def predictions(split: str, num_images: int, num_items: int, dets: int, seed: int = 0):
    """Batches of data samples (see module docstring)."""
    import numpy as np
    import torch
    from benchmark_dataset_scale import IMAGE_SIZE, generated_items

    from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
    garments = {image_id: [] for image_id in range(1, num_images + 1)}
    for image_id, item in generated_items(split, num_images, num_items):
        garments[image_id].append(item)
    rng = np.random.default_rng(seed)
    width, height = IMAGE_SIZE
    batch = []
    for image_id, items in garments.items():
        boxes = rng.uniform(0, 300, (dets, 4)).astype(np.float32)
        boxes[:, 2:] += boxes[:, :2] + rng.uniform(5, 300, (dets, 2)).astype(np.float32)
        labels = rng.integers(0, 13, dets)
        keypoints = rng.uniform(0, 640, (dets, NUM_KEYPOINTS, 2)).astype(np.float32)
        for k, item in enumerate(items):
            label = item['category_id'] - 1
            start, end = KEYPOINT_SLICES[label]
            boxes[k] = np.asarray(item['bounding_box']) + rng.normal(0, 8, 4)
            labels[k] = label
            own = np.asarray(item['landmarks'], dtype=np.float32).reshape(-1, 3)[:, :2]
            keypoints[k, start:end] = own + rng.normal(0, 6, own.shape)
        batch.append(dict(
            img_id=image_id, ori_shape=(height, width),
            pred_instances=dict(bboxes=torch.from_numpy(boxes),
                                scores=torch.from_numpy(rng.uniform(0, 1, dets).astype(np.float32)),
                                labels=torch.from_numpy(labels),
                                keypoints=torch.from_numpy(keypoints))))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def peak_rss_gb() -> float:
    """Peak RSS of this process since its exec (``VmHWM``)."""
    with open('/proc/self/status') as file:
        return next(int(line.split()[1]) for line in file if line.startswith('VmHWM:')) / 2**20


def measure(ann_file: str, backend: str, split: str, num_images: int, num_items: int,
            dets: int) -> dict:
    """One backend, in this process."""
    import deepmark_mm  # noqa: F401
    from deepmark_mm.evaluation import DeepFashion2Metric

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), cpu()
    metric = DeepFashion2Metric(ann_file=ann_file)
    gt_s = time.perf_counter() - start
    start = time.perf_counter()
    for batch in predictions(split, num_images, num_items, dets):
        metric.process({}, batch)
    process_s = time.perf_counter() - start
    start = time.perf_counter()
    results = metric.evaluate(num_images)
    evaluate_s = time.perf_counter() - start
    return dict(backend=backend, images=num_images, detections=num_images * dets,
                load_gt_s=round(gt_s, 1), process_s=round(process_s, 1),
                evaluate_s=round(evaluate_s, 1), cpu_s=round(cpu() - cpu_start, 1),
                peak_rss_gb=round(peak_rss_gb(), 2),
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                results={key.split('/', 1)[1]: value for key, value in results.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fraction', type=float, default=1.0)
    parser.add_argument('--dets', type=int, default=100, help='detections per image')
    parser.add_argument('--backends', nargs='+', default=['pycocotools'], choices=['pycocotools'])
    parser.add_argument('--work-dir', default='/tmp/deepmark_scale')
    parser.add_argument('--out', default=None, help='JSON result file')
    parser.add_argument('--measure', nargs=6, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        ann_file, backend, split, images, items, dets = args.measure
        print(json.dumps(measure(ann_file, backend, split, int(images), int(items), int(dets))))
        return
    from benchmark_dataset_scale import SPLITS, _cpu_name, write_coco
    images, items = (round(n * args.fraction) for n in SPLITS['validation'])
    os.makedirs(args.work_dir, exist_ok=True)
    ann_file = osp.join(args.work_dir, f'metric_validation_{args.fraction:g}.json')
    if not osp.exists(ann_file):
        write_coco(ann_file, 'validation', images, items)
    result = dict(fraction=args.fraction, images=images, items=items, dets_per_image=args.dets,
                  cpu=_cpu_name(), runs=[])
    for backend in args.backends:
        child = subprocess.run(
            [sys.executable, __file__, '--measure', ann_file, backend, 'validation', str(images),
             str(items), str(args.dets)], capture_output=True, text=True)
        if child.returncode:
            sys.exit(f'{backend} failed:\n{child.stderr[-3000:]}')
        run = json.loads(child.stdout.strip().splitlines()[-1])
        result['runs'].append(run)
        print(json.dumps(run), flush=True)
        if args.out:
            with open(args.out, 'w') as file:
                json.dump(result, file, indent=1)


if __name__ == '__main__':
    main()
