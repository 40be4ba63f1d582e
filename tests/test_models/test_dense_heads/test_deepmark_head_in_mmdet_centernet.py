# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMarkHead inside mmdet's stock CenterNet detector (ResNet-18 + CTResNetNeck config)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import NUM_KEYPOINTS

STOCK_CONFIG = osp.join('configs', 'centernet', 'centernet_r18_8xb16-crop512-140e_coco.py')


def _stock_model_cfg():
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', STOCK_CONFIG)
    if not osp.isfile(path):
        pytest.skip(f'mmdet {mmdet.__version__} ships no {STOCK_CONFIG}')
    model = Config.fromfile(path).model
    assert model.type == 'CenterNet' and model.neck.type == 'CTResNetNeck'
    model.backbone.init_cfg = None  # no download
    model.bbox_head = dict(type='DeepMarkHead', in_channels=64, feat_channels=32)
    return model


def test_stock_centernet_config_runs_loss_and_predict(garment_factory):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(_stock_model_cfg())
    model.init_weights()
    gts = [
        garment_factory([(1, [4., 6., 60., 90.]), (8, [62., 30., 124., 92.])], seed=3),
        garment_factory([(12, [20., 2., 100., 94.])], seed=4),
    ]
    samples = []
    for gt in gts:
        sample = DetDataSample(metainfo=dict(
            img_shape=(96, 128), ori_shape=(96, 128), scale_factor=(1., 1.),
            homography_matrix=np.eye(3, dtype=np.float32)))
        sample.gt_instances = gt
        samples.append(sample)
    images = [torch.randint(0, 256, (3, 96, 128), dtype=torch.uint8) for _ in gts]

    model.train()
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert {'loss_center_heatmap', 'loss_kpt_reg', 'loss_kpt_heatmap'} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total) and losses['loss_kpt_reg'] > 0
    total.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=images, data_samples=samples), training=False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert pred.bboxes.shape == (100, 4) and pred.scores.shape == (100, )
        assert pred.keypoints.shape == (100, NUM_KEYPOINTS, 2)
        assert pred.keypoint_scores.shape == (100, NUM_KEYPOINTS)
        assert pred.labels.min() >= 0 and pred.labels.max() < 13
