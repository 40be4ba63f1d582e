# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Stock mmdet models, built from mmdet's shipped configs, train one step and predict through
NMS on the stand-in ``mmcv._ext`` kernels (the default mmcv-lite environment; with full mmcv the
stand-in is switched in for the test). Changes to the configs, for speed and offline use only:
no pretrained weights (``init_cfg`` None, ``init_weights`` not called), ResNet-50 frozen
(``frozen_stages=4``), DyHead with 2 blocks instead of 6, ``score_thr`` 0 so that random weights
reach NMS, at most 100 boxes into NMS and 20 out (training: 200 / 100 proposals, 64 sampled
rois), one 64 x 64 image with two objects."""
import os.path as osp

import pytest
import torch

from deepmark_mm.mmcv_ext_stub import KERNELS, use_stand_in_kernels

#: config (under mmdet/.mim/configs) -> kernels the model must have called.
STOCK_MODELS = {
    'retinanet/retinanet_r50_fpn_1x_coco.py': {'nms'},
    'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py': {'nms', 'roi_align_forward',
                                                  'roi_align_backward'},
    'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py': {'nms', 'roi_align_forward', 'roi_align_backward'},
    'rtmdet/rtmdet_tiny_8xb32-300e_coco.py': {'nms'},
    'tood/tood_r50_fpn_1x_coco.py': {'nms', 'deform_conv_forward', 'deform_conv_backward_input'},
    'reppoints/reppoints-moment_r50_fpn-gn_head-gn_1x_coco.py': {
        'nms', 'deform_conv_forward', 'deform_conv_backward_input',
        'deform_conv_backward_parameters'},
    'dyhead/atss_r50_fpn_dyhead_1x_coco.py': {'nms', 'modulated_deform_conv_forward',
                                              'modulated_deform_conv_backward'},
}


def stock_model(config: str):
    import mmdet
    from mmengine.config import Config, ConfigDict
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model_cfg = Config.fromfile(osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                                         config)).model
    model_cfg.backbone.init_cfg = None
    if model_cfg.backbone.type == 'ResNet':
        model_cfg.backbone.frozen_stages = 4  # no backbone gradients: the kernels are elsewhere
    for neck in model_cfg.neck if isinstance(model_cfg.neck, list) else [model_cfg.neck]:
        if neck.type == 'DyHead':
            neck.num_blocks = 2

    def limit(node, limits):
        for key, value in node.items():
            if isinstance(value, ConfigDict):
                limit(value, limits)
            elif key in limits:
                node[key] = limits[key]
    limit(model_cfg.test_cfg, dict(score_thr=0., nms_pre=100, max_per_img=20))
    limit(model_cfg.get('train_cfg', ConfigDict()), dict(nms_pre=200, max_per_img=100, num=64))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(model_cfg)


@pytest.mark.parametrize('config', list(STOCK_MODELS))
def test_stock_model_trains_a_step_and_predicts_through_nms(config):
    from mmengine.optim import OptimWrapper
    from mmdet.testing import demo_mm_inputs
    from mmengine.logging import MessageHub
    MessageHub.get_current_instance().update_info('epoch', 0)  # as the runner (TOOD reads it)
    model = stock_model(config)
    torch.manual_seed(0)
    data = demo_mm_inputs(1, [[3, 64, 64]], num_items=[2], num_classes=80,
                          with_mask='mask' in config)
    called = set()
    with use_stand_in_kernels() as ext:
        for name, kernel in KERNELS.items():
            setattr(ext, name, lambda *a, _name=name, _kernel=kernel, **k: (
                called.add(_name), _kernel(*a, **k))[1])
        model.train()
        optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
        losses = model.train_step(data, optim_wrapper)
        model.eval()
        with torch.no_grad():
            prediction = model.val_step(data)[0].pred_instances
    assert all(torch.isfinite(value).all() for value in losses.values()), losses
    assert STOCK_MODELS[config] <= called, STOCK_MODELS[config] - called
    assert 0 < len(prediction.bboxes) <= 20 and prediction.scores.shape == (len(prediction), )
    if 'mask' in config:
        assert prediction.masks.shape[-2:] == (64, 64)
