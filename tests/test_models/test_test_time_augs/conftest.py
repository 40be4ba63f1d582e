# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A small randomly initialised DeepMark detector and TestTimeAug-style batches for it."""
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import deepmark_mm  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
SYNTHETIC_DLA = REPO / 'configs' / 'deepmark' / 'deepmark_dla34_1xb8-12e_synthetic-128.py'


@pytest.fixture(scope='session')
def small_detector():
    """The synthetic DLA-34 detector (plain up-path convs, 64-channel head), eval mode.

    Random weights; the wh bias is set to 6 feature pixels so boxes have a real size (soft-NMS
    then has overlaps to work on).
    """
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(SYNTHETIC_DLA))
    cfg.model.neck.use_dcn = False
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.bbox_head.wh_head[0][-1].bias.data.fill_(6.0)
    return model.eval()


def make_sample(input_side: int, original_side: int, img_id: int = 1) -> DetDataSample:
    """A packed test sample whose network input is the original image scaled by side ratio."""
    scale = input_side / original_side
    sample = DetDataSample()
    sample.set_metainfo(
        dict(
            img_id=img_id,
            img_path=f'{img_id}.jpg',
            ori_shape=(original_side, original_side),
            img_shape=(input_side, input_side),
            scale_factor=(scale, scale),
            homography_matrix=np.diag([scale, scale, 1.0]).astype(np.float32)))
    return sample


def tta_batch(images: Sequence[torch.Tensor], scales: Sequence[int] = (1, )) -> dict:
    """``pseudo_collate`` of TestTimeAug output: views = the images average-pooled by ``scales``.

    Args:
        images: (3, S, S) float tensors.
        scales: Integer pooling factors, one view each (1 = the image itself).

    Returns:
        dict: ``inputs`` / ``data_samples``, each a list over views of a list over images.
    """
    inputs: List[List[torch.Tensor]] = []
    samples: List[List[DetDataSample]] = []
    for factor in scales:
        view = [torch.nn.functional.avg_pool2d(img[None], factor)[0] for img in images]
        inputs.append(view)
        samples.append([
            make_sample(img.shape[-1], images[i].shape[-1], img_id=i + 1)
            for i, img in enumerate(view)
        ])
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture
def tta_batch_of():
    """:func:`tta_batch`."""
    return tta_batch
