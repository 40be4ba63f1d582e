# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The same computation on ``DEEPMARK_TEST_DEVICE`` (default: cuda when available) as on the CPU.

Run by ``tools/analysis_tools/gpu_check.py`` on a GPU machine; skipped when no such device is
there. ``DEEPMARK_TEST_DEVICE=cpu`` exercises the same code against itself.
"""
import os
import os.path as osp

import pytest
import torch

import deepmark_mm  # noqa: F401
from deepmark_mm.ops import ModulatedDeformConv2dPack, batched_nms, nms, soft_nms

DEVICE = os.environ.get('DEEPMARK_TEST_DEVICE') or ('cuda' if torch.cuda.is_available() else '')
pytestmark = pytest.mark.skipif(not DEVICE, reason='no CUDA device and DEEPMARK_TEST_DEVICE unset')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(REPO, 'configs', 'deepmark', 'deepmark_dla46c_1xb8-4000it_synthetic-128.py')


def random_boxes(num, seed):
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(num, 2, generator=generator) * 100
    extent = torch.rand(num, 2, generator=generator) * 30 + 1
    return torch.cat([corner, corner + extent], dim=1), torch.rand(num, generator=generator)


def test_nms_soft_nms_and_batched_nms_keep_the_same_boxes():
    boxes, scores = random_boxes(200, 0)
    labels = torch.arange(200) % 5
    on_device = boxes.to(DEVICE), scores.to(DEVICE)
    assert nms(*on_device, 0.5)[1].cpu().tolist() == nms(boxes, scores, 0.5)[1].tolist()
    dets, keep = soft_nms(*on_device, method='gaussian')
    cpu_dets, cpu_keep = soft_nms(boxes, scores, method='gaussian')
    assert keep.device.type == torch.device(DEVICE).type and keep.cpu().tolist() == cpu_keep.tolist()
    torch.testing.assert_close(dets.cpu(), cpu_dets)
    cfg = dict(type='nms', iou_threshold=0.4)
    assert batched_nms(*on_device, labels.to(DEVICE), cfg)[1].cpu().tolist() == \
        batched_nms(boxes, scores, labels, cfg)[1].tolist()


def test_dcn_v2_forward_and_gradients_match_the_cpu():
    torch.manual_seed(0)
    layer = ModulatedDeformConv2dPack(8, 6, 3, padding=1).double()
    torch.nn.init.normal_(layer.conv_offset.weight, std=0.3)
    x = torch.randn(2, 8, 12, 10, dtype=torch.float64)
    results = []
    for device in ('cpu', DEVICE):
        layer.to(device).zero_grad()
        inputs = x.to(device).requires_grad_()
        out = layer(inputs)
        out.square().sum().backward()
        results.append([t.detach().cpu() for t in (out, inputs.grad, layer.weight.grad,
                                                     layer.conv_offset.weight.grad)])
    for cpu_value, device_value in zip(*results):
        torch.testing.assert_close(device_value, cpu_value, rtol=1e-9, atol=1e-9)


def test_detector_maps_and_decoding_match_the_cpu():
    from deepmark_mm.deployment import build_detector
    torch.manual_seed(0)
    detector = build_detector(DEMO_CONFIG, None, 'cpu')
    inputs = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        cpu_maps = detector._forward(inputs)
        device_maps = detector.to(DEVICE)._forward(inputs.to(DEVICE))
        for cpu_level, device_level in zip(cpu_maps, device_maps):
            torch.testing.assert_close(device_level[-1].cpu(), cpu_level[-1], rtol=1e-3, atol=1e-3)
        metas = [dict(img_shape=(128, 128), ori_shape=(128, 128), batch_input_shape=(128, 128),
                      scale_factor=(1., 1.))] * 2
        head = detector.bbox_head
        # the CPU's maps decoded on both devices: identical detections
        on_device = head.predict_by_feat(*[[level[-1].to(DEVICE)] for level in cpu_maps],
                                         batch_img_metas=metas)
        head.cpu()
        on_cpu = head.predict_by_feat(*[[level[-1]] for level in cpu_maps], batch_img_metas=metas)
    for device_result, cpu_result in zip(on_device, on_cpu):
        assert len(cpu_result) > 0
        assert torch.equal(device_result.labels.cpu(), cpu_result.labels)
        for key in ('bboxes', 'scores', 'keypoints', 'keypoint_scores'):
            torch.testing.assert_close(device_result[key].cpu(), cpu_result[key], rtol=1e-5,
                                       atol=1e-4)
