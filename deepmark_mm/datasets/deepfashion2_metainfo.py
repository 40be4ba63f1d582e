# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 facts: categories and their slices of the 294 landmark slots (the official
``deepfashion2_to_coco.py``), OKS sigmas (the official ``cocoeval.py``; mmpose's list is empty),
and landmark names, flip partners and skeleton links (mmpose's installed
``configs/_base_/datasets/deepfashion2.py``, read at run time)."""
import os.path as osp
from functools import lru_cache
from typing import Dict, List, Tuple

import numpy as np

from .keypoint_metainfo import check_keypoint_slices, keypoint_owner

#: COCO category names in category-id order (label = category_id - 1).
CLASSES: Tuple[str, ...] = (
    'short_sleeved_shirt', 'long_sleeved_shirt', 'short_sleeved_outwear', 'long_sleeved_outwear',
    'vest', 'sling', 'shorts', 'trousers', 'skirt', 'short_sleeved_dress', 'long_sleeved_dress',
    'vest_dress', 'sling_dress')

#: The dataset's own human-readable category names, same order.
CATEGORY_NAMES: Tuple[str, ...] = (
    'short sleeve top', 'long sleeve top', 'short sleeve outwear', 'long sleeve outwear', 'vest',
    'sling', 'shorts', 'trousers', 'skirt', 'short sleeve dress', 'long sleeve dress',
    'vest dress', 'sling dress')

#: Each category's [start, end) slice of the 294 landmark slots (25, 33, 31, 39, 15, 15, 10, 14,
#: 8, 29, 37, 19, 19 landmarks).
KEYPOINT_SLICES: Tuple[Tuple[int, int], ...] = (
    (0, 25), (25, 58), (58, 89), (89, 128), (128, 143), (143, 158), (158, 168), (168, 182),
    (182, 190), (190, 219), (219, 256), (256, 275), (275, 294))

NUM_CLASSES: int = len(CLASSES)
NUM_KEYPOINTS: int = KEYPOINT_SLICES[-1][1]

#: Official per-slot OKS sigmas of the DeepFashion2 keypoint evaluation.
OKS_SIGMAS: Tuple[float, ...] = (
    0.012, 0.0158, 0.0169, 0.0165, 0.0169, 0.0158, 0.0298, 0.0329, 0.0321, 0.0323,
    0.034, 0.0388, 0.0452, 0.0574, 0.0492, 0.0352, 0.0492, 0.0574, 0.0452, 0.0388,
    0.034, 0.0323, 0.0321, 0.0329, 0.0298, 0.0194, 0.017, 0.0185, 0.0193, 0.0185,
    0.017, 0.0286, 0.0471, 0.0547, 0.0526, 0.043, 0.0392, 0.0513, 0.0566, 0.0509,
    0.0564, 0.0542, 0.0604, 0.0599, 0.052, 0.0599, 0.0604, 0.0542, 0.0564, 0.0509,
    0.0566, 0.0513, 0.0392, 0.043, 0.0526, 0.0547, 0.0471, 0.0286, 0.0074, 0.0085,
    0.0165, 0.0248, 0.0165, 0.0085, 0.0156, 0.0231, 0.0296, 0.0137, 0.0195, 0.025,
    0.0347, 0.038, 0.0257, 0.037, 0.0257, 0.038, 0.0347, 0.025, 0.0195, 0.0137,
    0.0296, 0.0231, 0.0156, 0.0248, 0.0469, 0.0632, 0.037, 0.0469, 0.0632, 0.0137,
    0.0153, 0.0243, 0.0377, 0.0243, 0.0153, 0.0203, 0.0366, 0.0467, 0.0433, 0.0393,
    0.0329, 0.0418, 0.0477, 0.0399, 0.0331, 0.042, 0.0492, 0.0436, 0.0478, 0.0436,
    0.0492, 0.042, 0.0331, 0.0399, 0.0477, 0.0418, 0.0329, 0.0393, 0.0433, 0.0467,
    0.0366, 0.0203, 0.0377, 0.0645, 0.0573, 0.0478, 0.0645, 0.0573, 0.0352, 0.0158,
    0.021, 0.0214, 0.021, 0.0158, 0.0196, 0.05, 0.0489, 0.0404, 0.0401, 0.0404,
    0.0489, 0.05, 0.0196, 0.0276, 0.0548, 0.0283, 0.0204, 0.0283, 0.0548, 0.0369,
    0.0726, 0.0677, 0.064, 0.0251, 0.064, 0.0677, 0.0726, 0.0369, 0.0308, 0.0216,
    0.0308, 0.0506, 0.0494, 0.0463, 0.0477, 0.0463, 0.0494, 0.0506, 0.0275, 0.0202,
    0.0275, 0.0651, 0.0451, 0.035, 0.028, 0.0392, 0.0362, 0.0392, 0.028, 0.035,
    0.0451, 0.0651, 0.0253, 0.0195, 0.0253, 0.0513, 0.0543, 0.0415, 0.0543, 0.0513,
    0.0153, 0.023, 0.0167, 0.0145, 0.0167, 0.023, 0.0332, 0.0391, 0.0391, 0.0396,
    0.044, 0.0452, 0.0498, 0.0514, 0.0585, 0.0655, 0.0635, 0.0602, 0.0635, 0.0655,
    0.0585, 0.0514, 0.0498, 0.0452, 0.044, 0.0396, 0.0391, 0.0391, 0.0332, 0.0121,
    0.0134, 0.0158, 0.0162, 0.0158, 0.0134, 0.0246, 0.0406, 0.047, 0.0404, 0.0463,
    0.0466, 0.0435, 0.0499, 0.0455, 0.044, 0.0411, 0.049, 0.0576, 0.0685, 0.0618,
    0.0483, 0.0618, 0.0685, 0.0576, 0.049, 0.0411, 0.044, 0.0486, 0.0499, 0.0435,
    0.0466, 0.0463, 0.0404, 0.047, 0.0406, 0.0246, 0.0116, 0.0167, 0.016, 0.018,
    0.016, 0.0167, 0.0196, 0.0385, 0.0421, 0.0497, 0.0562, 0.0528, 0.0428, 0.0528,
    0.0562, 0.0497, 0.0421, 0.0385, 0.0196, 0.0244, 0.0297, 0.0244, 0.0208, 0.0244,
    0.0297, 0.0173, 0.0616, 0.0659, 0.0712, 0.0707, 0.0685, 0.0339, 0.0685, 0.0707,
    0.0712, 0.0659, 0.0616, 0.0173,
)

#: One colour per category (RGB), for drawing.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (170, 110, 40), (128, 0, 0))


@lru_cache(maxsize=1)
def mmpose_deepfashion2_metainfo() -> Dict:
    """mmpose's DeepFashion2 metainfo (names, swap partners, skeleton) by its
    ``parse_pose_metainfo``; FileNotFoundError when mmpose does not ship the file."""
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
                    'deepfashion2.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'mmpose {mmpose.__version__} does not ship {path}; deepmark_mm '
                                'needs mmpose>=1.3 installed with its .mim configs.')
    return parse_pose_metainfo(dict(from_file=path))


@lru_cache(maxsize=1)
def flip_indices() -> np.ndarray:
    """(294,) int64 self-inverse permutation: the slot each slot moves to under a horizontal
    flip, from mmpose's ``swap`` partners read as unordered pairs (some are one-sided)."""
    one_sided = np.asarray(mmpose_deepfashion2_metainfo()['flip_indices'], dtype=np.int64)
    indices = np.arange(NUM_KEYPOINTS)
    for slot, partner in enumerate(one_sided.tolist()):
        if partner == slot:
            continue
        for a, b in ((slot, partner), (partner, slot)):
            if indices[a] not in (a, b):
                raise ValueError(f'landmark slot {a} has two flip partners: {indices[a]}, {b}')
            indices[a] = b
    check_keypoint_slices(KEYPOINT_SLICES, NUM_KEYPOINTS, 'mmpose deepfashion2 swap', CLASSES,
                          indices)
    indices.setflags(write=False)
    return indices


def keypoint_names() -> List[str]:
    """The 294 landmark slot names (mmpose's, e.g. ``'sss_kpt1'``)."""
    id2name = mmpose_deepfashion2_metainfo()['keypoint_id2name']
    return [id2name[i] for i in range(NUM_KEYPOINTS)]


def category_skeletons() -> List[List[Tuple[int, int]]]:
    """mmpose's skeleton links as (a, b) global slot pairs, one list per owning category."""
    owner = keypoint_owner(KEYPOINT_SLICES)
    skeletons: List[List[Tuple[int, int]]] = [[] for _ in CLASSES]
    for a, b in mmpose_deepfashion2_metainfo()['skeleton_links']:
        a, b = int(a), int(b)
        if owner[a] == owner[b]:
            skeletons[owner[a]].append((a, b))
    return skeletons


def get_deepfashion2_metainfo() -> Dict:
    """The ``metainfo`` of :class:`DeepFashion2Dataset`: the landmark metainfo schema plus
    ``category_names``, ``palette``, ``keypoint_names``, ``keypoint_category`` (294,) and
    ``skeleton_links`` (global pairs)."""
    return dict(classes=CLASSES, category_names=CATEGORY_NAMES, palette=list(PALETTE),
                num_keypoints=NUM_KEYPOINTS, keypoint_names=keypoint_names(),
                keypoint_slices=[list(s) for s in KEYPOINT_SLICES],
                keypoint_category=keypoint_owner(KEYPOINT_SLICES), flip_indices=flip_indices(),
                sigmas=np.asarray(OKS_SIGMAS, dtype=np.float64),
                skeleton_links=[tuple(map(int, link))
                                for link in mmpose_deepfashion2_metainfo()['skeleton_links']],
                skeletons=category_skeletons())
