# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Write a synthetic DeepFashion2-format data set that a detector can learn in minutes.

    python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
        --num-train 500 --num-val 100 --size 128 --seed 0 [--workers N]

Each image shows 1-3 garments of the :mod:`synthetic_garments` templates (all 13 categories) at
random size, position, rotation, proportions, colour and texture over a textured background.
Later garments occlude earlier ones (at most ``max_occlusion``); landmarks they cover get
visibility 1, the others 2, a few 0. Images go to ``OUT_DIR/{split}/image/NNNNNN.jpg`` with
both DeepFashion2 layouts, per-image ``annos/NNNNNN.json`` and ``deepfashion2_{split}.json``.
Integer landmarks and boxes in continuous pixel coordinates (pixel ``i`` covers ``[i, i + 1)``)
and anti-aliased drawing make a flipped image match its annotations flipped by ``x' = W - x``.
Each image has its own generator, seeded by ``(seed, split, index)``.

With ``--landmark-set toy``: the toy landmark set instead (3 shapes, 4 / 6 / 5 landmarks,
:mod:`toy_keypoint_set`, for configs/deepmark/deepmark_toy-landmarks_example.py),
OUT_DIR/SPLIT/image/ and OUT_DIR/SPLIT/toy_SPLIT.json. Tests import this folder's modules
(pytest's ``pythonpath``); they are not part of ``import deepmark_mm``.
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import time
from typing import Dict, List, Tuple

import cv2
import numpy as np

from deepmark_mm.datasets.deepfashion2_metainfo import CATEGORY_NAMES, NUM_CLASSES
from deepfashion2_to_coco import (ANNO_DIR, IMAGE_DIR, coco_categories, coco_image_record,
                                  raw_item_to_coco_annotation, sorted_item_keys)
from synthetic_garments import GarmentTemplate, garment_template
from toy_keypoint_set import make_toy_keypoint_set

SPLITS = ('train', 'validation')
SUBPIXEL_BITS = 4


def coco_file_name(split: str) -> str:
    """Relative path of a split's COCO json inside the data root."""
    return f'{split}/deepfashion2_{split}.json'


def data_root_cfg_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing every dataloader and evaluator of a synthetic config at
    ``data_root``, as ``tools/run_demo.sh`` sets them."""
    root = str(data_root).rstrip('/') + '/'
    ann_file = root + coco_file_name('validation')
    return [f'data_root={root}'] + [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ] + [f'val_evaluator.ann_file={ann_file}', f'test_evaluator.ann_file={ann_file}']


def _random_color(rng: np.random.Generator, avoid: List[np.ndarray],
                  min_distance: float = 90.0) -> np.ndarray:
    """A saturated BGR colour at least ``min_distance`` away from every colour in ``avoid``."""
    for _ in range(50):
        hsv = np.array([[[rng.integers(0, 180), rng.integers(110, 256), rng.integers(90, 256)]]],
                       dtype=np.uint8)
        color = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)
        if all(np.linalg.norm(color - other) >= min_distance for other in avoid):
            return color
    return color


def _background(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Low-contrast textured background and its mean colour."""
    base = rng.uniform(40, 215, size=3)
    ramp = np.linspace(-1, 1, size)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    img = base[None, None, :] + 25 * gradient[..., None] * rng.uniform(-1, 1, size=3)
    img = img + rng.normal(0, 6, size=(size, size, 1))
    if rng.random() < 0.4:  # faint stripes
        period = rng.integers(6, 20)
        stripes = ((np.arange(size) // period) % 2).astype(np.float64)
        img = img + 12 * (stripes[:, None, None] if rng.random() < 0.5 else stripes[None, :, None])
    return np.clip(img, 0, 255).astype(np.uint8), base


def _texture(rng: np.random.Generator, size: int, color: np.ndarray) -> np.ndarray:
    """A garment fabric: plain, stripes, checks, dots or noise around ``color``."""
    kind = rng.choice(['plain', 'plain', 'stripes', 'checks', 'dots', 'noise'])
    fabric = np.broadcast_to(color, (size, size, 3)).astype(np.float64)
    second = np.clip(color * rng.uniform(0.55, 0.8) + rng.uniform(0, 60), 0, 255)
    yy, xx = np.mgrid[0:size, 0:size]
    period = max(3, int(size * rng.uniform(0.03, 0.08)))
    if kind == 'stripes':
        angle = rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4])
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) // period
        fabric = np.where((phase % 2 == 0)[..., None], fabric, second)
    elif kind == 'checks':
        fabric = np.where((((xx // period) + (yy // period)) % 2 == 0)[..., None], fabric, second)
    elif kind == 'dots':
        dots = ((xx % period) - period / 2)**2 + ((yy % period) - period / 2)**2 < (period / 4)**2
        fabric = np.where(dots[..., None], second, fabric)
    elif kind == 'noise':
        fabric = fabric + rng.normal(0, 12, size=(size, size, 1))
    return np.clip(fabric, 0, 255)


def _place(template: GarmentTemplate, rng: np.random.Generator, size: int,
           min_fraction: float, max_fraction: float) -> Dict[str, np.ndarray]:
    """Image coordinates (rounded to integer pixels) of every template point."""
    names = list(template.points)
    points = np.stack([template.points[name] for name in names])
    points = points * np.array([rng.uniform(0.88, 1.12), 1.0])
    angle = np.deg2rad(rng.uniform(-8, 8))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = points @ rotation.T
    outline = np.stack([points[names.index(name)] for name in template.silhouette])
    extent = outline.max(axis=0) - outline.min(axis=0)
    side = rng.uniform(min_fraction, max_fraction) * (size - 3)
    points = points * (side / extent.max())
    points = points + rng.normal(0, 0.004 * side, size=points.shape)  # hand-made irregularity
    mins, maxs = points.min(axis=0), points.max(axis=0)
    offset = np.array([rng.uniform(1 - mins[0], size - 2 - maxs[0]),
                       rng.uniform(1 - mins[1], size - 2 - maxs[1])])
    placed = np.rint(points + offset)
    return {name: placed[i] for i, name in enumerate(names)}


def polygon_coverage(polygon: np.ndarray, size: int) -> np.ndarray:
    """(size, size) fraction in [0, 1] of each pixel covered by ``polygon`` (m, 2) in continuous
    pixel coordinates (> 0.5 is inside), filled on a supersampled grid (8x up to 192 px, 4x up to
    512 px, else 2x) and averaged down: the true area up to one sample (OpenCV's closed spans add
    one on the right / bottom edge)."""
    factor = 8 if size <= 192 else (4 if size <= 512 else 2)
    canvas = np.zeros((size * factor, size * factor), dtype=np.uint8)
    vertices = (np.asarray(polygon, dtype=np.float64) * factor - 0.5) * (1 << SUBPIXEL_BITS)
    cv2.fillPoly(canvas, [np.rint(vertices).astype(np.int32)], 255, lineType=cv2.LINE_8,
                 shift=SUBPIXEL_BITS)
    coverage = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return coverage.astype(np.float64) / 255.0


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(n,) bool: which ``points`` (n, 2) lie inside or on ``polygon`` (m, 2)."""
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return np.array([
        cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points
    ], dtype=bool)


def _occlusion_ok(masks: List[np.ndarray], new_mask: np.ndarray, max_occlusion: float) -> bool:
    """Whether drawing ``new_mask`` last keeps every earlier garment at most ``max_occlusion``
    covered (by all garments drawn after it)."""
    on_top = new_mask.copy()
    for earlier in reversed(masks):
        if (earlier & on_top).sum() > max_occlusion * earlier.sum():
            return False
        on_top |= earlier
    return True


def synthesize_sample(rng: np.random.Generator, size: int = 128, max_garments: int = 3,
                      min_fraction: float = 0.35, max_fraction: float = 0.8,
                      max_occlusion: float = 0.35, unlabelled_prob: float = 0.02,
                      pair_id: int = 1) -> Tuple[np.ndarray, Dict]:
    """One BGR uint8 (size, size, 3) image and its per-image DeepFashion2 annotation.

    1..``max_garments`` garments are attempted, each spanning ``min_fraction`` to
    ``max_fraction`` of the side and at most ``max_occlusion`` covered by later ones; a landmark
    is left unlabelled (v = 0) with chance ``unlabelled_prob``.
    """
    img, background = _background(rng, size)
    num_wanted = int(rng.integers(1, max_garments + 1))
    garments: List[Tuple[GarmentTemplate, Dict[str, np.ndarray], np.ndarray]] = []
    for _ in range(num_wanted):
        label = int(rng.integers(0, NUM_CLASSES))
        for _attempt in range(30):
            template = garment_template(label, rng)
            placed = _place(template, rng, size, min_fraction, max_fraction)
            mask = polygon_coverage(np.stack([placed[n] for n in template.silhouette]), size) > 0.5
            if mask.sum() < 16:
                continue
            if _occlusion_ok([garment[2] for garment in garments], mask, max_occlusion):
                garments.append((template, placed, mask))
                break
    colors: List[np.ndarray] = [background]
    anno: Dict = dict(source=str(rng.choice(['shop', 'user'])), pair_id=pair_id)
    for index, (template, placed, mask) in enumerate(garments):
        color = _random_color(rng, colors)
        colors.append(color)
        fabric = _texture(rng, size, color)
        shades = dict(main=fabric, dark=fabric * 0.42, band=fabric * 0.72)
        canvas = img.astype(np.float64)
        for names, shade in template.layers:
            alpha = polygon_coverage(np.stack([placed[n] for n in names]), size)[..., None]
            canvas = canvas * (1 - alpha) + shades[shade] * alpha
        outline = np.stack([placed[n] for n in template.silhouette])
        seam = np.rint((outline - 0.5) * (1 << SUBPIXEL_BITS)).astype(np.int32)
        img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        cv2.polylines(img, [seam], True, tuple(float(c) for c in color * 0.5), 1, cv2.LINE_AA,
                      shift=SUBPIXEL_BITS)
        outline = outline.astype(np.int64)
        occluders = np.zeros((size, size), dtype=bool)
        for _, _, later_mask in garments[index + 1:]:
            occluders |= later_mask
        landmarks = np.stack([placed[name] for name in template.slots])
        covered_by_later = np.zeros(len(landmarks), dtype=bool)
        for later_template, later_placed, _ in garments[index + 1:]:
            polygon = np.stack([later_placed[n] for n in later_template.silhouette])
            covered_by_later |= points_in_polygon(landmarks, polygon)
        visible = np.where(covered_by_later, 1, 2)
        visible[rng.random(len(visible)) < unlabelled_prob] = 0
        triplets = np.concatenate([landmarks * (visible[:, None] > 0), visible[:, None]], axis=1)
        x1, y1 = outline.min(axis=0)
        x2, y2 = outline.max(axis=0)
        covered = (mask & occluders).sum() / max(mask.sum(), 1)
        extent = max(x2 - x1, y2 - y1) / size
        anno[f'item{index + 1}'] = dict(
            category_id=template.label + 1,
            category_name=CATEGORY_NAMES[template.label],
            bounding_box=[int(x1), int(y1), int(x2), int(y2)],
            landmarks=[int(value) for value in triplets.reshape(-1)],
            style=int(rng.integers(0, 3)),
            scale=1 if extent < 0.45 else (2 if extent < 0.65 else 3),
            occlusion=1 if covered <= 0.05 else (2 if covered <= 0.2 else 3),
            zoom_in=1,
            viewpoint=2,
            segmentation=[outline.reshape(-1).tolist()])
    return img, anno


def _write_sample(job: Tuple[str, int, int, int, int, Dict]) -> Tuple[Dict, Dict]:
    """Draw and write image ``index`` of a split; returns its (annotation, COCO image record)."""
    split_dir, split_key, index, size, seed, sample_kwargs = job
    stem = f'{index + 1:06d}'
    rng = np.random.default_rng([seed, split_key, index])
    img, anno = synthesize_sample(rng, size, pair_id=index // 2 + 1, **sample_kwargs)
    cv2.imwrite(osp.join(split_dir, IMAGE_DIR, stem + '.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    with open(osp.join(split_dir, ANNO_DIR, stem + '.json'), 'w', encoding='utf-8') as file:
        json.dump(anno, file)
    return anno, coco_image_record(index + 1, stem + '.jpg', size, size)


def make_synthetic_deepfashion2(out_dir: str, num_train: int = 500, num_val: int = 100,
                                size: int = 128, seed: int = 0, num_workers: int = 0,
                                **sample_kwargs) -> Dict[str, Dict]:
    """Write the train and validation splits under ``out_dir`` (module docstring) and return
    the COCO dict per split. ``num_workers`` processes draw the images (0: this one; the output
    does not depend on it); ``sample_kwargs`` go to :func:`synthesize_sample`."""
    splits = {}
    for split, num_images in zip(SPLITS, (num_train, num_val)):
        split_dir = osp.join(out_dir, split)
        for folder in (IMAGE_DIR, ANNO_DIR):
            os.makedirs(osp.join(split_dir, folder), exist_ok=True)
        split_key = sum((i + 1) * ord(c) for i, c in enumerate(split))
        jobs = [(split_dir, split_key, index, size, seed, sample_kwargs)
                for index in range(num_images)]
        if num_workers > 0 and num_images > 1:
            with multiprocessing.Pool(num_workers) as pool:
                samples = pool.map(_write_sample, jobs,
                                   chunksize=max(1, num_images // (8 * num_workers)))
        else:
            samples = [_write_sample(job) for job in jobs]
        coco = dict(info={}, licenses=[], images=[], annotations=[], categories=coco_categories())
        for anno, image_record in samples:
            coco['images'].append(image_record)
            anno_name = image_record['file_name'].replace('.jpg', '.json')
            for key in sorted_item_keys(anno, anno_name):
                coco['annotations'].append(raw_item_to_coco_annotation(
                    anno[key], f'{anno_name}: {key}', image_record['id'],
                    len(coco['annotations']) + 1, anno['pair_id']))
        with open(osp.join(out_dir, coco_file_name(split)), 'w', encoding='utf-8') as file:
            json.dump(coco, file)
        splits[split] = coco
    return splits


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
