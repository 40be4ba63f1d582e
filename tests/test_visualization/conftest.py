# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Fixtures of the visualiser tests: one synthetic garment of every category, drawn large."""
import itertools
from typing import Dict

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from synthetic_garments import garment_template

_counter = itertools.count()


@pytest.fixture
def visualizer():
    """A fresh DeepMarkVisualizer (unique instance name, no dataset metainfo set)."""
    from deepmark_mm.visualization import DeepMarkVisualizer
    # get_instance registers it as mmengine's current visualiser (what mmdet's hooks use)
    return DeepMarkVisualizer.get_instance(
        f'test_deepmark_visualizer_{next(_counter)}', kpt_radius=3)


@pytest.fixture(scope='session')
def make_garment():
    """:func:`garment_instance` (a factory fixture)."""
    return garment_instance


def garment_instance(label: int, canvas: int = 160, margin: int = 20) -> Dict:
    """The canonical synthetic garment of ``label`` scaled into a ``canvas``-pixel square.

    Visibility cycles 2, 2, 1 over the category's slots; the last slot is unlabelled (v = 0) and
    moved to (3, canvas - 10), outside the garment, so a drawing must leave it blank.

    Returns:
        dict: ``bbox`` (4,), ``label``, ``keypoints`` (294, 2), ``keypoints_visible`` (294,).
    """
    template = garment_template(label)
    points = template.landmarks()
    low, high = points.min(axis=0), points.max(axis=0)
    points = (points - low) / (high - low).max() * (canvas - 2 * margin) + margin
    start, end = KEYPOINT_SLICES[label]
    keypoints = np.zeros((NUM_KEYPOINTS, 2), dtype=np.float32)
    visible = np.zeros(NUM_KEYPOINTS, dtype=np.float32)
    keypoints[start:end] = points
    visible[start:end] = np.resize([2, 2, 1], end - start)
    visible[end - 1] = 0
    keypoints[end - 1] = (3, canvas - 10)
    labelled = keypoints[start:end - 1]
    return dict(
        bbox=np.concatenate([labelled.min(0), labelled.max(0)]).astype(np.float32),
        label=label,
        keypoints=keypoints,
        keypoints_visible=visible)
