# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNetFocalLoss: the same value and gradient as mmdet's GaussianFocalLoss on the clamped
sigmoid, and the head gives the same losses with either."""
import math

import pytest
import torch
from mmdet.models.losses import GaussianFocalLoss

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401
from deepmark_mm.cpu_training import CenterNetFocalLoss, centernet_focal_loss
from deepmark_mm.models.dense_heads.deepmark_head import clamped_sigmoid


def _heatmap_case(seed: int, shape=(2, 5, 9, 11)):
    """Logits spanning the clamp on both sides and a Gaussian-like target with exact 1 peaks."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=gen) * 6 - 2  # ~10% beyond |x| = 9.2 (the clamp)
    target = torch.rand(shape, generator=gen).pow(6)
    target[target > 0.8] = 1.0
    return logits, target


def test_single_pixel_values_by_hand():
    # one positive at p = sigmoid(0) = 0.5: -log(0.5) * 0.5**2
    loss = centernet_focal_loss(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
    assert float(loss) == pytest.approx(math.log(2) * 0.25, rel=1e-6)
    # one negative, target 0.5, p = 0.5: -log(0.5) * 0.5**2 * 0.5**4
    loss = centernet_focal_loss(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5))
    assert float(loss) == pytest.approx(math.log(2) * 0.25 / 16, rel=1e-6)


@pytest.mark.parametrize('alpha,gamma', [(2.0, 4.0), (1.0, 2.0), (3.0, 4.0)])
def test_value_and_gradient_match_gaussian_focal_loss(alpha, gamma):
    logits, target = _heatmap_case(0)
    reference_logits = logits.clone().requires_grad_()
    reference = GaussianFocalLoss(alpha=alpha, gamma=gamma, loss_weight=0.7)(
        clamped_sigmoid(reference_logits), target, avg_factor=13.0)
    reference.backward()
    fused_logits = logits.clone().requires_grad_()
    fused = CenterNetFocalLoss(alpha=alpha, gamma=gamma, loss_weight=0.7)(
        fused_logits, target, avg_factor=13.0)
    fused.backward()
    assert fused.item() == pytest.approx(reference.item(), rel=1e-5)
    torch.testing.assert_close(fused_logits.grad, reference_logits.grad, rtol=1e-4, atol=1e-8)
    clamped = (logits.sigmoid() <= 1e-4) | (logits.sigmoid() >= 1 - 1e-4)
    assert clamped.any() and (fused_logits.grad[clamped] == 0).all()


@pytest.mark.parametrize('layout', ['channels_last', 'strided_view', 'target_channels_last'])
def test_memory_layouts_give_the_same_loss_and_gradient(layout):
    """The dense part runs in the logits' own layout and the target's support is found through
    their strides: a channels-last map, a non-dense view and a channels-last target agree with
    the contiguous case."""
    logits, target = _heatmap_case(2, shape=(2, 6, 5, 7))
    reference_logits = logits.clone().requires_grad_()
    reference = centernet_focal_loss(reference_logits, target)
    reference.backward()
    if layout == 'channels_last':
        leaf = logits.contiguous(memory_format=torch.channels_last).requires_grad_()
        tested_logits = leaf
    elif layout == 'strided_view':  # every second channel of a wider map
        leaf = torch.stack([logits, torch.randn_like(logits)], dim=2).flatten(1, 2)
        leaf.requires_grad_()
        tested_logits = leaf[:, ::2]
    else:
        leaf = tested_logits = logits.clone().requires_grad_()
        target = target.contiguous(memory_format=torch.channels_last)
    loss = centernet_focal_loss(tested_logits, target)
    loss.backward()
    grad = leaf.grad[:, ::2] if layout == 'strided_view' else leaf.grad
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.testing.assert_close(grad, reference_logits.grad, rtol=1e-6, atol=1e-9)
    if layout == 'strided_view':
        assert (leaf.grad[:, 1::2] == 0).all()


def test_gradient_scales_with_upstream_gradient_and_keeps_dtype():
    logits, target = _heatmap_case(1, shape=(1, 3, 4, 4))
    logits = logits.to(torch.bfloat16).requires_grad_()
    (3.0 * centernet_focal_loss(logits, target)).backward()
    grad_x3 = logits.grad.clone()
    logits.grad = None
    centernet_focal_loss(logits, target).backward()
    assert logits.grad.dtype == torch.bfloat16
    torch.testing.assert_close(grad_x3.float(), 3.0 * logits.grad.float(), rtol=1e-2, atol=0)


def test_all_negative_heatmap_and_shape_error():
    logits = torch.full((1, 2, 3, 3), -2.19)
    loss = centernet_focal_loss(logits, torch.zeros(1, 2, 3, 3))
    p = torch.sigmoid(torch.tensor(-2.19))
    assert float(loss) == pytest.approx(float(-torch.log1p(-p) * p * p * 18), rel=1e-5)
    with pytest.raises(ValueError, match=r'logits \(1, 2, 3, 3\) and target \(1, 2, 3\)'):
        centernet_focal_loss(logits, torch.zeros(1, 2, 3))
