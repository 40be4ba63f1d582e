# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Shared fixtures: a tiny generated synthetic set and the real samples in ../shared."""
import json
from pathlib import Path

import pytest

from make_synthetic_deepfashion2 import make_synthetic_deepfashion2

SHARED_SAMPLES = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'deepfashion2-samples'


@pytest.fixture(scope='session')
def samples_dir() -> Path:
    """../shared/deepfashion2-samples, or skip."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f'{SHARED_SAMPLES} is not available')
    return SHARED_SAMPLES.resolve()


@pytest.fixture(scope='session')
def demo_coco(samples_dir) -> dict:
    """The 32-image KGDet demo annotations (official COCO layout)."""
    with open(samples_dir / 'kgdet_demo_dataset' / 'demo_dataset-32.json') as file:
        return json.load(file)


@pytest.fixture(scope='session')
def category_spec(samples_dir) -> dict:
    """spec/categories_offsets_flip.json."""
    with open(samples_dir / 'spec' / 'categories_offsets_flip.json') as file:
        return json.load(file)


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> Path:
    """A generated synthetic set: 16 train + 6 validation images of 96 px, both layouts."""
    root = tmp_path_factory.mktemp('synthetic_deepfashion2')
    make_synthetic_deepfashion2(str(root), num_train=16, num_val=6, size=96, seed=7)
    return root
