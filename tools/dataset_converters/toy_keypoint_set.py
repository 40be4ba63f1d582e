# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A toy landmark set unlike DeepFashion2: 3 shapes with 4 / 6 / 5 landmarks (15 slots).

It proves that DeepMark reads the landmark set from the metainfo, not DeepFashion2's constants.
Each image shows one or two filled polygons whose vertices are the landmarks (all visible),
written as ``OUT_DIR/{split}/image/NNNNNN.png`` and ``OUT_DIR/{split}/toy_{split}.json`` (COCO
keypoints, as :class:`KeypointCocoDataset` reads). Vertices are listed so that the horizontal
flip pairs stay inside each shape (the pentagon's ``top`` is its own partner).
"""
import json
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

#: Class names, unit-polygon vertices (x, y in [-1, 1], y down) and fill colours (BGR).
TOY_SHAPES = (
    ('square', ((-1, -1), (1, -1), (1, 1), (-1, 1)), (40, 40, 220)),
    ('hexagon', ((-0.5, -0.87), (0.5, -0.87), (1, 0), (0.5, 0.87), (-0.5, 0.87), (-1, 0)),
     (40, 200, 40)),
    ('pentagon', ((0, -1), (0.95, -0.31), (0.59, 0.81), (-0.59, 0.81), (-0.95, -0.31)),
     (220, 120, 30)),
)


def toy_keypoint_metainfo() -> Dict:
    """The toy set's landmark metainfo: ``classes``, ``keypoint_slices``, ``flip_indices``,
    ``sigmas``, ``skeletons`` (each polygon's outline) and ``palette`` (RGB)."""
    flip = [1, 0, 3, 2,  # square
            5, 4, 9, 8, 7, 6,  # hexagon
            10, 14, 13, 12, 11]  # pentagon
    slices, skeletons, start = [], [], 0
    for _, vertices, _ in TOY_SHAPES:
        end = start + len(vertices)
        slices.append([start, end])
        skeletons.append([(start + i, start + (i + 1) % len(vertices))
                          for i in range(len(vertices))])
        start = end
    return dict(
        classes=tuple(name for name, _, _ in TOY_SHAPES),
        keypoint_slices=slices,
        flip_indices=flip,
        sigmas=[0.05] * start,
        skeletons=skeletons,
        palette=[tuple(reversed(color)) for _, _, color in TOY_SHAPES])


def _toy_image(rng: np.random.Generator, size: int, max_shapes: int,
               keypoint_slices: List[List[int]]) -> tuple:
    """One image (H, W, 3) uint8 and its COCO annotations (without ids)."""
    image = np.full((size, size, 3), 235, dtype=np.uint8)
    annotations = []
    num_keypoints = keypoint_slices[-1][1]
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        label = int(rng.integers(len(TOY_SHAPES)))
        _, vertices, color = TOY_SHAPES[label]
        radius = rng.uniform(0.15, 0.3) * size
        centre = rng.uniform(radius + 1, size - radius - 1, size=2)
        points = np.round(centre + radius * np.asarray(vertices, dtype=np.float64))
        cv2.fillPoly(image, [points.astype(np.int32)], color)
        keypoints = np.zeros((num_keypoints, 3), dtype=np.float64)
        start, end = keypoint_slices[label]
        keypoints[start:end] = np.concatenate(
            [points, np.full((len(vertices), 1), 2.0)], axis=1)
        x1, y1 = points.min(axis=0)
        x2, y2 = points.max(axis=0) + 1
        annotations.append(
            dict(category_id=label + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                 area=float((x2 - x1) * (y2 - y1)), iscrowd=0, num_keypoints=len(vertices),
                 keypoints=keypoints.ravel().tolist()))
    return image, annotations


def make_toy_keypoint_set(out_dir: str, num_train: int = 8, num_val: int = 4, size: int = 64,
                          seed: int = 0, max_shapes: int = 2) -> Dict[str, str]:
    """Write the toy set under ``out_dir`` (the same files for the same arguments); returns
    split -> path of its COCO json."""
    meta = toy_keypoint_metainfo()
    num_keypoints = meta['keypoint_slices'][-1][1]
    categories = [
        dict(id=label + 1, name=name, supercategory='shape',
             keypoints=[str(slot + 1) for slot in range(num_keypoints)], skeleton=[])
        for label, name in enumerate(meta['classes'])
    ]
    files = {}
    for split_index, (split, count) in enumerate((('train', num_train),
                                                  ('validation', num_val))):
        rng = np.random.default_rng([seed, split_index])
        os.makedirs(osp.join(out_dir, split, 'image'), exist_ok=True)
        images: List[Dict] = []
        annotations: List[Dict] = []
        for index in range(count):
            image, anns = _toy_image(rng, size, max_shapes, meta['keypoint_slices'])
            file_name = f'{index + 1:06d}.png'
            cv2.imwrite(osp.join(out_dir, split, 'image', file_name), image)
            images.append(dict(id=index + 1, file_name=file_name, width=size, height=size))
            for ann in anns:
                annotations.append(dict(ann, id=len(annotations) + 1, image_id=index + 1))
        files[split] = osp.join(out_dir, split, f'toy_{split}.json')
        with open(files[split], 'w') as file:
            json.dump(dict(images=images, annotations=annotations, categories=categories), file)
    return files
