# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Fixtures of the deployment tests: a small random DeepMark, its checkpoint and its ONNX file."""
import glob
import os
import os.path as osp
from pathlib import Path
from typing import Dict, Optional

import cv2
import numpy as np
import pytest
import torch

from make_synthetic_deepfashion2 import synthesize_sample
from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_CONFIG = 'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}


@pytest.fixture(scope='session')
def deploy_images(tmp_path_factory) -> Dict:
    """Three generated images: two square files and one wide BGR array."""
    folder = tmp_path_factory.mktemp('deploy_images')
    files = []
    for index in range(2):
        img, _ = synthesize_sample(np.random.default_rng(200 + index), size=128)
        files.append(str(folder / f'{index + 1:06d}.jpg'))
        cv2.imwrite(files[-1], img)
    wide = np.random.default_rng(7).integers(0, 255, (72, 150, 3)).astype(np.uint8)
    return dict(folder=folder, files=files, array=wide)


@pytest.fixture(scope='session')
def exported(tmp_path_factory) -> Dict:
    """A random (seed 0) synthetic-config DLA-34 (plain convs), saved as checkpoint and ONNX."""
    from deepmark_mm.deployment import build_detector, export_onnx
    folder = tmp_path_factory.mktemp('exported')
    torch.manual_seed(0)
    model = build_detector(SYNTHETIC_CONFIG, None, cfg_options=SMALL_DECODE)
    checkpoint = str(folder / 'random.pth')
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=CLASSES))),
        checkpoint)
    onnx_file = str(folder / 'random.onnx')
    info = export_onnx(SYNTHETIC_CONFIG, None, onnx_file, cfg_options=SMALL_DECODE, model=model)
    return dict(model=model, checkpoint=checkpoint, onnx_file=onnx_file, info=info, folder=folder)


@pytest.fixture
def demo_checkpoint() -> Optional[Dict[str, str]]:
    """The synthetic-trained checkpoint when one exists.

    ``DEEPMARK_DEMO_CHECKPOINT`` (and optionally ``DEEPMARK_DEMO_CONFIG``) or the newest
    ``work_dirs/demo/*.pth`` (``best_*`` first) with the config saved next to it (else the
    synthetic DLA-34 config).
    """
    path = os.environ.get('DEEPMARK_DEMO_CHECKPOINT')
    if not path:
        candidates = sorted(
            glob.glob(str(REPO / 'work_dirs' / 'demo' / '*.pth')),
            key=lambda p: (osp.basename(p).startswith('best'), osp.getmtime(p)))
        if not candidates:
            return None
        path = candidates[-1]
    config = os.environ.get('DEEPMARK_DEMO_CONFIG')
    if not config:
        saved = sorted(glob.glob(osp.join(osp.dirname(path), '*.py')))
        config = saved[0] if len(saved) == 1 else SYNTHETIC_CONFIG
    return dict(checkpoint=path, config=config)
