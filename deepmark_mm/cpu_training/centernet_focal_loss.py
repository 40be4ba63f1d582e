# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's heatmap focal loss on logits: value and gradient in one pass, target-weighted only
where the Gaussian target is non-zero."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor

from deepmark_mm.models.dense_heads.deepmark_head import PROB_EPS


def _memory_order(tensor: Tensor) -> Tensor:
    """A 1-D view of a dense tensor's elements in memory order (no copy)."""
    return tensor.as_strided((tensor.numel(), ), (1, ), tensor.storage_offset())


class _FocalLoss(torch.autograd.Function):
    """CenterNet's summed focal loss of logits and its gradient in one no-grad pass: every pixel
    as a negative of weight 1 (on the logits' memory layout), then, only where the target is
    above 0, that weight corrected to ``(1 - t)**gamma`` and the positives (``t == 1``) added.
    ``p = clamped_sigmoid(x)``; the gradient is 0 where the clamp is active."""

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, alpha: float,  # type: ignore[override]
                gamma: float) -> Tensor:
        with torch.no_grad():
            probs = logits.float()
            probs = probs.sigmoid() if probs is logits else probs.sigmoid_()
            clamped = probs.le(PROB_EPS).logical_or_(probs.ge(1 - PROB_EPS))
            probs.clamp_(PROB_EPS, 1 - PROB_EPS)
            one_minus = 1 - probs
            log_one_minus = one_minus.log()  # as mmdet
            probs_alpha = probs.pow(alpha)
            loss = -torch.dot(_memory_order(probs_alpha), _memory_order(log_one_minus))
            grad = probs_alpha.mul_(
                torch.addcmul(probs, one_minus, log_one_minus, value=-alpha))

            # the target's support, as offsets into the (dense) maps above
            flat_target = target.reshape(-1)
            support = flat_target.nonzero().squeeze(1)
            coords = torch.unravel_index(support, tuple(target.shape))
            offsets = sum(coord * stride for coord, stride in zip(coords, probs.stride()))
            target_at = flat_target[support].float()
            probs_at = _memory_order(probs)[offsets]
            log_at = _memory_order(log_one_minus)[offsets]
            grad_flat = _memory_order(grad)
            weight_minus_one = (1 - target_at).pow(gamma) - 1
            loss = loss - (weight_minus_one * probs_at.pow(alpha) * log_at).sum()
            grad_flat[offsets] = grad_flat[offsets] * (1 + weight_minus_one)
            positive = target_at == 1
            pos_probs = probs_at[positive]
            pos_weight = (1 - pos_probs).pow(alpha)
            pos_log = pos_probs.log()
            loss = loss - (pos_log * pos_weight).sum()
            grad_flat[offsets[positive]] += pos_weight * (alpha * pos_probs * pos_log -
                                                          (1 - pos_probs))
            grad.masked_fill_(clamped, 0)
        ctx.save_for_backward(grad)
        ctx.logits_dtype = logits.dtype
        return loss

    @staticmethod
    def backward(ctx,  # type: ignore[override]
                 grad_output: Tensor) -> Tuple[Optional[Tensor], ...]:
        grad, = ctx.saved_tensors
        return (grad * grad_output).to(ctx.logits_dtype), None, None, None


def centernet_focal_loss(logits: Tensor,
                         target: Tensor,
                         alpha: float = 2.0,
                         gamma: float = 4.0) -> Tensor:
    """Scalar float32 mmdet ``gaussian_focal_loss(clamped_sigmoid(logits), target, alpha,
    gamma).sum()`` of (B, C, H, W) logits (any float dtype and layout) and Gaussian target,
    same gradient."""
    if logits.shape != target.shape:
        raise ValueError(f'centernet_focal_loss: logits {tuple(logits.shape)} and target '
                         f'{tuple(target.shape)} differ in shape')
    return _FocalLoss.apply(logits, target, alpha, gamma)


@MODELS.register_module()
class CenterNetFocalLoss(nn.Module):
    """mmdet's ``GaussianFocalLoss`` (same arguments) of ``clamped_sigmoid(logits)``, taking
    **logits**: :func:`centernet_focal_loss`."""

    def __init__(self, alpha: float = 2.0, gamma: float = 4.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target: Tensor, avg_factor: float = 1.0) -> Tensor:
        """Scalar weighted loss of (B, C, H, W) logits and target, divided by ``avg_factor``."""
        loss = centernet_focal_loss(logits, target, self.alpha, self.gamma)
        return self.loss_weight * loss / avg_factor
