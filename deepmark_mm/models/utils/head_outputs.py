# Copyright (c) deepmark_mm contributors. All rights reserved.
"""From the head's raw per-level outputs (logits) to what losses and decoding read."""
from typing import Optional, Sequence, Tuple

from torch import Tensor

from .shared_channels import channel_maps_to_slot_maps

#: CenterNet's ``_sigmoid`` clamp, keeps the focal loss finite.
PROB_EPS = 1e-4


def clamped_sigmoid(logits: Tensor) -> Tensor:
    """CenterNet's ``_sigmoid``: ``sigmoid(x).clamp(1e-4, 1 - 1e-4)`` in float32.

    The input of mmdet's ``GaussianFocalLoss`` in training.

    Args:
        logits (Tensor): Any shape.

    Returns:
        Tensor: Probabilities, same shape, float32.
    """
    return logits.float().sigmoid().clamp(PROB_EPS, 1 - PROB_EPS)


def decode_inputs(outputs: Sequence[Sequence[Tensor]],
                  slot_to_channel: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
    """The six maps decoding reads: the last feature level, both heatmaps as probabilities.

    The one place where raw outputs become decode inputs, shared by ``DeepMarkHead``'s predict,
    ``DeepMarkTTAModel`` and the ONNX export wrappers.

    Args:
        outputs (Sequence[Sequence[Tensor]]): ``DeepMarkHead.forward``'s six per-level lists:
            center heatmap logits (B, C, H, W), wh (B, 2, H, W), offset (B, 2, H, W), kpt_reg
            (B, 2J, H, W), kpt heatmap logits (B, J, H, W) or, with shared channels,
            (B, G, H, W), kpt_offset (B, 2, H, W).
        slot_to_channel (Tensor, optional): (J,) int64 slot -> channel table of a head with
            shared landmark heatmap channels (``DeepMarkHead.kpt_slot_to_channel``); None when
            the head has one channel per slot.

    Returns:
        tuple[Tensor]: ``(center_heatmap_probs, wh, offset, kpt_reg, kpt_heatmap_probs,
        kpt_offset)`` of the last level, heatmaps through a plain sigmoid; with
        ``slot_to_channel`` the landmark probabilities are the per-slot view (B, J, H, W) of the
        G channels (slot ``j`` reads channel ``slot_to_channel[j]``), so decoding reads each
        detection's own slots unchanged.
    """
    if len(outputs) != 6:
        raise ValueError(f'decode_inputs expects the head\'s six output lists, got {len(outputs)}')
    center, wh, offset, kpt_reg, kpt_heatmap, kpt_offset = (level[-1] for level in outputs)
    kpt_heatmap_probs = kpt_heatmap.sigmoid()
    if slot_to_channel is not None:
        kpt_heatmap_probs = channel_maps_to_slot_maps(kpt_heatmap_probs, slot_to_channel)
    return center.sigmoid(), wh, offset, kpt_reg, kpt_heatmap_probs, kpt_offset
