# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Flip test of CenterNet ``multi_pose``: fuse the head outputs of an image and of its mirror.

The mirrored half of ``[x, torch.flip(x, dims=[3])]`` is un-mirrored and averaged with ``x``; an x
component measured from an integer cell un-mirrors to ``1 - dx`` (mmdet's ``x' = W - x``;
geometry: docs/architecture.md).
"""
from typing import NamedTuple

import torch
from torch import Tensor


class FlipFusedMaps(NamedTuple):
    """The head's six (B, C, H, W) maps after flip fusion (heatmaps as probabilities)."""
    center_heatmap_probs: Tensor
    wh: Tensor
    offset: Tensor
    kpt_reg: Tensor
    kpt_heatmap_probs: Tensor
    kpt_offset: Tensor


def _unmirror_slots(maps: Tensor, flip_indices: Tensor, reflect_dx: bool = False) -> Tensor:
    """Mirror (B, J * D, H, W) per-slot maps back, slot ``j`` taking slot ``flip[j]``'s block;
    ``reflect_dx``: dx -> 1 - dx in (dx, dy) channel pairs (landmark regression)."""
    batch, channels, height, width = maps.shape
    per_slot = maps.reshape(batch, flip_indices.numel(), -1, height, width)
    out = per_slot.index_select(1, flip_indices.to(maps.device)).flip(dims=[4])
    if reflect_dx:
        out = torch.stack([1 - out[:, :, 0], out[:, :, 1]], dim=2)
    return out.reshape(maps.shape)


def fuse_flip_outputs(center_heatmap_probs: Tensor,
                      wh: Tensor,
                      offset: Tensor,
                      kpt_reg: Tensor,
                      kpt_heatmap_probs: Tensor,
                      kpt_offset: Tensor,
                      flip_indices: Tensor) -> FlipFusedMaps:
    """Average the outputs of ``B`` images (``[:B]``) and of their mirrors (``[B:]``): centre
    heatmap and wh ``(a + unmirror(b)) / 2``, landmark heatmap and ``kpt_reg`` likewise with slots
    swapped (``kpt_reg``: dx -> 1 - dx), offsets the unflipped view's.

    Maps are (2B, C, H, W), heatmaps as probabilities (``kpt_reg``: slot ``j`` at channels
    ``2j, 2j + 1``); ``flip_indices`` (J,) int64, a checked flip permutation. Returns
    (B, C, H, W) maps.
    """
    double_batch = center_heatmap_probs.shape[0]
    if double_batch % 2:
        raise ValueError(f'flip fusion needs [originals, mirrors], got an odd batch of '
                         f'{double_batch}')
    maps = (center_heatmap_probs, wh, offset, kpt_reg, kpt_heatmap_probs, kpt_offset)
    if any(m.shape[0] != double_batch or m.shape[2:] != center_heatmap_probs.shape[2:]
           for m in maps):
        raise ValueError('flip fusion needs maps of one batch and size, got shapes '
                         f'{[tuple(m.shape) for m in maps]}')
    num_keypoints = kpt_heatmap_probs.shape[1]
    if kpt_reg.shape[1] != 2 * num_keypoints or flip_indices.numel() != num_keypoints:
        raise ValueError(f'kpt_reg has {kpt_reg.shape[1]} channels, kpt_heatmap '
                         f'{num_keypoints} and flip_indices {flip_indices.numel()} entries')
    batch = double_batch // 2
    return FlipFusedMaps(
        center_heatmap_probs=(center_heatmap_probs[:batch]
                              + center_heatmap_probs[batch:].flip(dims=[3])) / 2,
        wh=(wh[:batch] + wh[batch:].flip(dims=[3])) / 2,
        offset=offset[:batch],
        kpt_reg=(kpt_reg[:batch] + _unmirror_slots(kpt_reg[batch:], flip_indices, True)) / 2,
        kpt_heatmap_probs=(kpt_heatmap_probs[:batch]
                           + _unmirror_slots(kpt_heatmap_probs[batch:], flip_indices)) / 2,
        kpt_offset=kpt_offset[:batch])
