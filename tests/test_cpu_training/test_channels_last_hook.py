# Copyright (c) deepmark_mm contributors. All rights reserved.
"""ChannelsLastHook: NHWC weights, same outputs and gradients, optimizer keeps its parameters."""
import copy
from pathlib import Path
from types import SimpleNamespace

import torch
from mmdet.registry import HOOKS, MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'


def test_channels_last_model_matches_the_contiguous_one():
    """Same outputs and gradients (float64, where rounding cannot hide a layout bug)."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    reference = MODELS.build(Config.fromfile(str(DEMO_CONFIG)).model)
    reference.init_weights()
    reference = reference.double()
    converted = copy.deepcopy(reference)
    optimizer = torch.optim.SGD(converted.parameters(), lr=0.1)
    params_before = [id(p) for p in converted.parameters()]
    HOOKS.build(dict(type='ChannelsLastHook')).before_run(SimpleNamespace(model=converted))

    spatial_weights = [m.weight for m in converted.modules()
                       if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]
    assert spatial_weights and all(
        w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
        for w in spatial_weights)
    assert [id(p) for p in converted.parameters()] == params_before
    assert optimizer.param_groups[0]['params'][0] is next(converted.parameters())

    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    outputs = [model.bbox_head(model.extract_feat(images)) for model in (reference, converted)]
    for ref_maps, cl_maps in zip(*outputs):
        torch.testing.assert_close(cl_maps[-1], ref_maps[-1], rtol=1e-9, atol=1e-9)
    assert outputs[1][0][-1].is_contiguous(memory_format=torch.channels_last)
    for maps in outputs:
        sum(level[-1].square().mean() for level in maps).backward()
    for (name, ref_param), cl_param in zip(reference.named_parameters(), converted.parameters()):
        torch.testing.assert_close(cl_param.grad, ref_param.grad, rtol=1e-7, atol=1e-9,
                                   msg=lambda text: f'{name}: {text}')


def test_channels_last_outputs_decode_like_contiguous_ones():
    """The decode reads NCHW order from NHWC maps (mmdet's top-K views them)."""
    init_default_scope('mmdet')
    torch.manual_seed(1)
    model = MODELS.build(Config.fromfile(str(DEMO_CONFIG)).model).eval()
    maps = model.bbox_head(model.extract_feat(torch.randn(2, 3, 64, 64)))
    nhwc = tuple([level.contiguous(memory_format=torch.channels_last) for level in branch]
                 for branch in maps)
    assert not nhwc[0][-1].is_contiguous()
    metas = [dict(batch_input_shape=(64, 64), img_shape=(64, 64))] * 2
    expected = model.bbox_head.predict_by_feat(*maps, batch_img_metas=metas)
    for result, reference in zip(model.bbox_head.predict_by_feat(*nhwc, batch_img_metas=metas),
                                 expected):
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'):
            torch.testing.assert_close(result.get(key), reference.get(key))
