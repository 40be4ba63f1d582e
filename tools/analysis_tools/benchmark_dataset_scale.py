#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Dataset load time and peak RSS at DeepFashion2 scale, both layouts, and converter throughput.

    python tools/analysis_tools/benchmark_dataset_scale.py [--split train] [--fraction 1]
        [--layouts coco per_image] [--converter] [--workers 0]
        [--work-dir /tmp/deepmark_scale] [--out docs/benchmarks/dataset_scale_train.json]

Generates a split with the real sizes times ``--fraction`` (train: 191,961 images / 312,186 items;
validation: 32,153 / 52,490) and the real number of items per category (DeepFashion2's published
statistics), every item with its category's landmark count (visible / occluded alternating), no
segmentation unless ``--polygon-points``; all images are symbolic links to one JPEG. The COCO json
is written the way ``deepfashion2_to_coco.py`` writes it (882 float keypoint numbers per item), the
per-image layout as ``annos/NNNNNN.json`` files. Then, each in a fresh process, builds
``DeepFashion2Dataset`` (``serialize_data=True``: the one buffer dataloader workers share) and
reports wall and CPU seconds, peak RSS (``VmHWM``), the serialized data list size and the load
average; ``--converter`` also times ``per_image_to_coco`` (images/s).
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

SPLITS = dict(train=(191961, 312186), validation=(32153, 52490))
#: Items per category id 1..13 (DeepFashion2 README statistics).
ITEMS_PER_CATEGORY = dict(
    train=(71645, 36064, 543, 13457, 16095, 1985, 36616, 55387, 30835, 17211, 7907, 17949, 6492),
    validation=(12556, 5966, 142, 2011, 2113, 322, 4167, 9586, 6522, 3127, 1477, 3352, 1149))
IMAGE_SIZE = (640, 480)


def generated_items(split: str, num_images: int, num_items: int, polygon_points: int = 0):
    """(image_id, raw item) pairs: real category shares, item k on image k % num_images + 1."""
    import numpy as np

    from deepmark_mm.datasets.deepfashion2_metainfo import CATEGORY_NAMES, KEYPOINT_SLICES
    counts = np.asarray(ITEMS_PER_CATEGORY[split], dtype=np.float64)
    per_category = np.floor(counts / counts.sum() * num_items).astype(int)
    per_category[0] += num_items - per_category.sum()
    labels = np.repeat(np.arange(13), per_category)
    np.random.default_rng(0).shuffle(labels)
    polygon = [[float(50 + 3 * (p % 100)), float(40 + 2 * (p % 150))]
               for p in range(polygon_points)]
    for index, label in enumerate(labels.tolist()):
        start, end = KEYPOINT_SLICES[label]
        landmarks = []
        for slot in range(start, end):
            landmarks += [100 + slot % 200, 80 + slot % 150, 1 + slot % 2]
        item = dict(category_id=label + 1, category_name=CATEGORY_NAMES[label],
                    bounding_box=[50, 40, 350, 390], landmarks=landmarks, style=index % 3,
                    scale=2, occlusion=1, zoom_in=1, viewpoint=2)
        if polygon_points:
            item['segmentation'] = [sum(polygon, [])]
        yield index % num_images + 1, item


def write_coco(path: str, split: str, num_images: int, num_items: int,
               polygon_points: int = 0) -> None:
    """The generated split as the converter's COCO json (see module docstring)."""
    from deepmark_mm.datasets.deepfashion2_format import (coco_categories, coco_image_record,
                                                          raw_item_to_coco_annotation)
    images = [coco_image_record(i, f'{i:06d}.jpg', *IMAGE_SIZE) for i in range(1, num_images + 1)]
    items = generated_items(split, num_images, num_items, polygon_points)
    with open(path, 'w') as file:  # what json.dump writes, one annotation at a time
        file.write(f'{{"info": {{}}, "licenses": [], "images": {json.dumps(images)}, '
                   '"annotations": [')
        for number, (image_id, item) in enumerate(items):
            annotation = raw_item_to_coco_annotation(item, 'generated', image_id, number + 1,
                                                     pair_id=image_id)
            file.write((', ' if number else '') + json.dumps(annotation))
        file.write(f'], "categories": {json.dumps(coco_categories())}}}')


def write_per_image(split_dir: str, split: str, num_images: int, num_items: int,
                    polygon_points: int = 0) -> None:
    """The generated split as ``annos/NNNNNN.json`` + ``image/NNNNNN.jpg`` (see link_images)."""
    by_image = {image_id: {} for image_id in range(1, num_images + 1)}
    for image_id, item in generated_items(split, num_images, num_items, polygon_points):
        by_image[image_id][f'item{len(by_image[image_id]) + 1}'] = item
    os.makedirs(osp.join(split_dir, 'annos'), exist_ok=True)
    for image_id, items in by_image.items():
        with open(osp.join(split_dir, 'annos', f'{image_id:06d}.json'), 'w') as file:
            json.dump(dict(source='user', pair_id=image_id, **items), file)


def link_images(split_dir: str, num_images: int) -> None:
    """``image/NNNNNN.jpg`` as symbolic links to ``shared.jpg`` (one black JPEG)."""
    import cv2
    import numpy as np
    shared = osp.join(split_dir, 'shared.jpg')
    os.makedirs(osp.join(split_dir, 'image'), exist_ok=True)
    cv2.imwrite(shared, np.zeros(IMAGE_SIZE[::-1] + (3, ), np.uint8))
    for image_id in range(1, num_images + 1):
        link = osp.join(split_dir, 'image', f'{image_id:06d}.jpg')
        if not osp.lexists(link):
            os.symlink(osp.abspath(shared), link)


def peak_rss_gb() -> float:
    """This process's peak RSS since its exec (``VmHWM``; ``ru_maxrss`` would include the RSS
    of the parent it was forked from)."""
    with open('/proc/self/status') as file:
        kib = next(int(line.split()[1]) for line in file if line.startswith('VmHWM:'))
    return kib / 2**20


def _usage() -> dict:
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return dict(cpu_s=own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
                peak_rss_gb=peak_rss_gb(), workers_peak_rss_gb=children.ru_maxrss / 2**20)


def measure(split_dir: str, layout: str, workers: int = 0) -> dict:
    """Build the dataset in this process: seconds, CPU seconds, peak RSS, serialized bytes."""
    import deepmark_mm  # noqa: F401
    from deepmark_mm.datasets import DeepFashion2Dataset
    before = _usage()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    if layout == 'coco':
        dataset = DeepFashion2Dataset(
            data_root=split_dir, ann_file='coco.json', data_prefix=dict(img='image/'),
            pipeline=[], serialize_data=True)
    else:
        dataset = DeepFashion2Dataset(
            data_root=split_dir, ann_file='', data_prefix=dict(img='image/', ann='annos/'),
            pipeline=[], serialize_data=True, num_workers=workers)
    seconds = time.perf_counter() - start
    after = _usage()
    instances = sum(len(dataset.get_data_info(i)['instances']) for i in (0, len(dataset) - 1))
    workers_rss = dict(workers_peak_rss_gb=round(after['workers_peak_rss_gb'], 2)) \
        if workers else {}
    return dict(layout=layout, workers=workers, images=len(dataset), load_s=round(seconds, 1),
                cpu_s=round(after['cpu_s'] - before['cpu_s'], 1),
                peak_rss_gb=round(after['peak_rss_gb'], 2), **workers_rss,
                serialized_mb=round(dataset.data_bytes.nbytes / 2**20, 1),
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                instances_first_last_image=instances)


def measure_converter(split_dir: str, out_file: str, workers: int) -> dict:
    """``tools/dataset_converters/deepfashion2_to_coco.py`` on the per-image split."""
    tool = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'dataset_converters',
                    'deepfashion2_to_coco.py')
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, tool, split_dir, out_file, '--workers', str(workers)],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=sys.path[0]))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    images = len(os.listdir(osp.join(split_dir, 'annos')))
    return dict(workers=workers, images=images, seconds=round(seconds, 1),
                images_per_s=round(images / seconds),
                cpu_s=round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fraction', type=float, default=1.0)
    parser.add_argument('--split', choices=sorted(SPLITS), default='train')
    parser.add_argument('--layouts', nargs='+', default=['coco', 'per_image'],
                        choices=['coco', 'per_image'])
    parser.add_argument('--workers', type=int, default=0, help='per-image reader processes')
    parser.add_argument('--converter', action='store_true', help='also time the converter')
    parser.add_argument('--polygon-points', type=int, default=0,
                        help='segmentation polygon points per item (0: none)')
    parser.add_argument('--work-dir', default='/tmp/deepmark_scale')
    parser.add_argument('--out', default=None, help='JSON result file')
    parser.add_argument('--measure', nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: fresh RSS
        print(json.dumps(measure(args.measure[0], args.measure[1], int(args.measure[2]))))
        return
    images, items = (round(n * args.fraction) for n in SPLITS[args.split])
    split_dir = osp.join(args.work_dir, f'{args.split}_{args.fraction:g}')
    link_images(split_dir, images)
    result = dict(split=args.split, fraction=args.fraction, images=images, items=items,
                  polygon_points=args.polygon_points, cpu=_cpu_name(), runs=[])
    for layout in args.layouts:
        start = time.perf_counter()
        if layout == 'coco':
            write_coco(osp.join(split_dir, 'coco.json'), args.split, images, items,
                       args.polygon_points)
            size = osp.getsize(osp.join(split_dir, 'coco.json'))
        else:
            write_per_image(split_dir, args.split, images, items, args.polygon_points)
            size = sum(entry.stat().st_size for entry in os.scandir(osp.join(split_dir, 'annos')))
        write_s = time.perf_counter() - start
        child = subprocess.run(
            [sys.executable, __file__, '--measure', split_dir, layout, str(args.workers)],
            capture_output=True, text=True)
        if child.returncode:
            sys.exit(f'measuring {layout} failed:\n{child.stderr}')
        run = dict(json_mb=round(size / 2**20, 1), write_s=round(write_s, 1),
                   **json.loads(child.stdout.strip().splitlines()[-1]))
        result['runs'].append(run)
        print(json.dumps(run), flush=True)
    if args.converter:
        if 'per_image' not in args.layouts:
            write_per_image(split_dir, args.split, images, items, args.polygon_points)
        result['converter'] = measure_converter(split_dir, osp.join(split_dir, 'converted.json'),
                                                args.workers)
        print(json.dumps(result['converter']), flush=True)
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(result, file, indent=1)


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as file:
            name = next(line.split(':', 1)[1].strip() for line in file
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        name = 'unknown CPU'
    return f'{name}, {os.cpu_count()} cores visible'


if __name__ == '__main__':
    main()
