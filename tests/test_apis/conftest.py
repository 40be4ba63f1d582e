# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Fixtures of the inference API tests: synthetic images on disk and a small random model."""
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch

from make_synthetic_deepfashion2 import synthesize_sample

SYNTHETIC_CONFIG = 'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'
#: Few candidates keep decoding fast; the structure is the same for any topk.
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}
SAMPLES_DIR = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'deepfashion2-samples'


@pytest.fixture(scope='session')
def samples_dir():
    """``../shared/deepfashion2-samples`` when present, else None (checks using it are skipped)."""
    return SAMPLES_DIR if SAMPLES_DIR.is_dir() else None


@pytest.fixture(scope='session')
def synthetic_image_dir(tmp_path_factory) -> Dict:
    """Two generated DeepFashion2-like images ``000001.jpg``, ``000002.jpg`` (128 px) + a
    non-image file that folder listing must skip."""
    folder = tmp_path_factory.mktemp('synthetic_images')
    annotations: List[Dict] = []
    for index in range(2):
        img, anno = synthesize_sample(np.random.default_rng(100 + index), size=128)
        cv2.imwrite(str(folder / f'{index + 1:06d}.jpg'), img)
        annotations.append(anno)
    (folder / 'notes.txt').write_text('not an image')
    return dict(
        folder=folder, files=sorted(str(p) for p in folder.glob('*.jpg')), annotations=annotations)


@pytest.fixture(scope='module')
def inferencer():
    """A DeepMarkInferencer with random weights (fixed seed) on the synthetic 128 px config."""
    from deepmark_mm.apis import DeepMarkInferencer
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='random'):
        return DeepMarkInferencer(
            SYNTHETIC_CONFIG,
            weights=None,
            device='cpu',
            show_progress=False,
            cfg_options=SMALL_DECODE)
