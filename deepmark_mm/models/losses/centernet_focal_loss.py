# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's heatmap focal loss on logits, with a fused gradient for the dense negative term."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor

#: CenterNet's ``_sigmoid`` clamp, keeps the focal loss finite.
PROB_EPS = 1e-4


def clamped_sigmoid(logits: Tensor) -> Tensor:
    """CenterNet's ``_sigmoid``: ``sigmoid(x).clamp(1e-4, 1 - 1e-4)`` in float32.

    Args:
        logits (Tensor): Any shape.

    Returns:
        Tensor: Probabilities, same shape, float32.
    """
    return logits.float().sigmoid().clamp(PROB_EPS, 1 - PROB_EPS)


class _NegativeFocalTerm(torch.autograd.Function):
    """``sum(-log(1 - p) * p**alpha * (1 - t)**gamma)`` with ``p = clamped_sigmoid(x)``.

    The negative term covers every pixel of a heatmap, so it dominates the loss's cost. Autograd
    would keep about ten full-size intermediates; here the loss and its gradient are computed in
    one no-grad pass and only the gradient is kept. With ``l = -log(1 - p)`` and ``w = (1 - t)**
    gamma``, ``d/dx = w * p**alpha * (p + alpha * (1 - p) * l)`` where the clamp is inactive and 0
    where it clamps (as autograd through ``clamp`` gives).
    """

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, alpha: float,  # type: ignore[override]
                gamma: float) -> Tensor:
        with torch.no_grad():
            probs = logits.float().sigmoid()
            unclamped = (probs > PROB_EPS) & (probs < 1 - PROB_EPS)
            probs.clamp_(PROB_EPS, 1 - PROB_EPS)
            neg_log = torch.log1p(-probs).neg_()
            weighted = probs.pow(alpha).mul_((1 - target.float()).pow_(gamma))
            loss = (neg_log * weighted).sum()
            grad = weighted.mul_(torch.addcmul(probs, 1 - probs, neg_log, value=alpha))
            grad.mul_(unclamped)
        ctx.save_for_backward(grad)
        ctx.logits_dtype = logits.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tuple[Optional[Tensor], ...]:  # type: ignore[override]
        grad, = ctx.saved_tensors
        return (grad * grad_output).to(ctx.logits_dtype), None, None, None


def centernet_focal_loss(logits: Tensor,
                         target: Tensor,
                         alpha: float = 2.0,
                         gamma: float = 4.0) -> Tensor:
    """Summed CenterNet focal loss of heatmap logits against a Gaussian target.

    Equals mmdet's ``gaussian_focal_loss(clamped_sigmoid(logits), target, alpha, gamma).sum()``
    (CenterNet's ``_neg_loss`` before normalisation): positives are the pixels where the target is
    exactly 1 and cost ``-log(p) * (1 - p)**alpha``; every pixel costs ``-log(1 - p) * p**alpha *
    (1 - target)**gamma``. Gradients match autograd through the same expression.

    Args:
        logits (Tensor): (B, C, H, W) heatmap logits (any float dtype).
        target (Tensor): (B, C, H, W) Gaussian target in [0, 1].
        alpha (float): Focusing exponent on the prediction. Defaults to 2.
        gamma (float): Penalty-reduction exponent on the target. Defaults to 4.

    Returns:
        Tensor: Scalar float32 sum over all pixels.
    """
    if logits.shape != target.shape:
        raise ValueError(f'centernet_focal_loss: logits {tuple(logits.shape)} and target '
                         f'{tuple(target.shape)} differ in shape')
    positive = target == 1
    pos_probs = clamped_sigmoid(logits[positive])
    pos_loss = -(pos_probs.log() * (1 - pos_probs).pow(alpha)).sum()
    return pos_loss + _NegativeFocalTerm.apply(logits, target, alpha, gamma)


@MODELS.register_module()
class CenterNetFocalLoss(nn.Module):
    """CenterNet's heatmap focal loss, taking **logits** (``takes_logits = True``).

    Same value and gradient as ``GaussianFocalLoss`` applied to ``clamped_sigmoid(logits)``, at
    two thirds of the cost on a CPU for the 294-slot landmark heatmap (37.5 vs 55.7 ms forward +
    backward for 8 x 294 x 32 x 32 on 2 cores, ``tools/analysis_tools/benchmark_focal_loss.py``). :class:`DeepMarkHead` hands logits to losses with
    ``takes_logits`` and clamped probabilities to any other loss (e.g. mmdet's
    ``GaussianFocalLoss``).

    Args:
        alpha (float): Focusing exponent. Defaults to 2.
        gamma (float): Penalty-reduction exponent. Defaults to 4.
        loss_weight (float): Weight of the loss. Defaults to 1.
    """

    takes_logits = True

    def __init__(self, alpha: float = 2.0, gamma: float = 4.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target: Tensor, avg_factor: float = 1.0) -> Tensor:
        """Weighted loss sum divided by ``avg_factor``.

        Args:
            logits (Tensor): (B, C, H, W) heatmap logits.
            target (Tensor): (B, C, H, W) Gaussian target.
            avg_factor (float): Normaliser (e.g. the number of objects). Defaults to 1.

        Returns:
            Tensor: Scalar loss.
        """
        loss = centernet_focal_loss(logits, target, self.alpha, self.gamma)
        return self.loss_weight * loss / avg_factor
