# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Synthetic DeepFashion2-like ground truth and 'perfect' head outputs built from it."""
from typing import List, Sequence, Tuple

import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS

STRIDE = 4


def make_garments(specs: Sequence[Tuple[int, Sequence[float]]], seed: int = 0,
                  unlabelled_every: int = 5) -> InstanceData:
    """Garments with their own-slot landmarks inside the box, in network-input pixels.

    Landmarks of one image occupy distinct feature cells (the landmark offset branch is shared by
    all slots), with a random sub-pixel position; every ``unlabelled_every``-th slot is
    unlabelled (v = 0), the others alternate v = 2 / v = 1.

    Args:
        specs: (label, [x1, y1, x2, y2]) per garment.
    """
    gen = torch.Generator().manual_seed(seed)
    num = len(specs)
    keypoints = torch.zeros(num, NUM_KEYPOINTS, 2)
    visible = torch.zeros(num, NUM_KEYPOINTS)
    used_cells = set()
    for index, (label, box) in enumerate(specs):
        start, end = KEYPOINT_SLICES[label]
        x1, y1, x2, y2 = [int(v // STRIDE) for v in box]
        free = [(cx, cy) for cy in range(y1 + 1, y2 - 1) for cx in range(x1 + 1, x2 - 1)
                if (cx, cy) not in used_cells]
        order = torch.randperm(len(free), generator=gen)[:end - start].tolist()
        for slot, pick in zip(range(start, end), order):
            cell = free[pick]
            used_cells.add(cell)
            sub = 0.05 + 0.9 * torch.rand(2, generator=gen)
            keypoints[index, slot] = (torch.tensor(cell, dtype=torch.float32) + sub) * STRIDE
            visible[index, slot] = 0 if (slot - start) % unlabelled_every == 2 else 2 - slot % 2
    instances = InstanceData()
    instances.bboxes = HorizontalBoxes(
        torch.tensor([box for _, box in specs], dtype=torch.float32).reshape(-1, 4))
    instances.labels = torch.tensor([label for label, _ in specs], dtype=torch.long)
    instances.keypoints = keypoints
    instances.keypoints_visible = visible
    return instances


def perfect_outputs(head, batch_gt_instances: List[InstanceData], batch_img_metas: List[dict],
                    feat_hw: Tuple[int, int]) -> Tuple[List[torch.Tensor], ...]:
    """Head outputs that reproduce the training targets exactly (heatmaps as logits)."""
    batch = len(batch_gt_instances)
    shape = (batch, head.num_classes) + tuple(feat_hw)
    targets = head.get_targets(batch_gt_instances, batch_img_metas, shape)

    def dense(channels, batch_ids, pixels, values):
        out = torch.zeros(batch, channels, feat_hw[0] * feat_hw[1])
        out[batch_ids, :, pixels] = values
        return out.view(batch, channels, *feat_hw)

    ids, pix = targets.center_batch_ids, targets.center_pixel_index
    return ([torch.logit(targets.center_heatmap, eps=1e-6)],
            [dense(2, ids, pix, targets.wh)],
            [dense(2, ids, pix, targets.offset)],
            [dense(2 * head.num_keypoints, ids, pix, targets.kpt_reg)],
            [torch.logit(targets.kpt_heatmap, eps=1e-6)],
            [dense(2, targets.kpt_batch_ids, targets.kpt_pixel_index, targets.kpt_offset)])


@pytest.fixture
def garment_factory():
    """:func:`make_garments`."""
    return make_garments


@pytest.fixture
def perfect_outputs_of():
    """:func:`perfect_outputs`."""
    return perfect_outputs


@pytest.fixture
def two_images():
    """Two 128x128 inputs: three garments (two short-sleeve tops, trousers), one long dress."""
    gts = [
        make_garments([(0, [6., 6., 58., 62.]), (7, [66., 10., 122., 122.]),
                       (0, [10., 70., 60., 122.])], seed=1),
        make_garments([(10, [13.3, 9.7, 117.1, 121.9])], seed=2),
    ]
    metas = [dict(img_shape=(128, 128), batch_input_shape=(128, 128), img_id=i) for i in range(2)]
    return gts, metas
