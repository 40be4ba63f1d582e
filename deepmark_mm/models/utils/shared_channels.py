# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A head's shared landmark channels as tensors: the (J,) int64 ``slot_to_channel`` table of J
slots onto G channels, and the per-slot view of its maps."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def channel_maps_to_slot_maps(channel_maps: Tensor, slot_to_channel: Tensor) -> Tensor:
    """(B, J, H, W) per-slot view of (B, G, H, W) shared-channel maps: slot ``j`` reads
    channel ``slot_to_channel[j]``."""
    if channel_maps.dim() != 4:
        raise ValueError('channel_maps_to_slot_maps: maps must be (B, G, H, W), got shape '
                         f'{tuple(channel_maps.shape)}')
    return channel_maps.index_select(1, slot_to_channel.to(channel_maps.device))


def channel_representative_slots(slot_to_channel: Tensor) -> Tensor:
    """(G,) int64 first slot of each channel of a (J,) table using every channel: reading them
    from the per-slot view gives the G channels back."""
    slots = torch.arange(slot_to_channel.numel(), device=slot_to_channel.device)
    num_channels = int(slot_to_channel.max()) + 1 if slot_to_channel.numel() else 0
    first = torch.full((num_channels, ), slot_to_channel.numel(), dtype=torch.long,
                       device=slot_to_channel.device)
    return first.scatter_reduce(0, slot_to_channel, slots, 'amin')


def head_channel_table(spec: object, num_keypoints: int,
                       keypoint_slices: Sequence[Sequence[int]],
                       flip_indices: Optional[Sequence[int]] = None
                       ) -> Tuple[Optional[Tensor], int]:
    """The (J,) int64 slot -> channel table and channel count of a head's
    ``kpt_heatmap_channels`` ``spec`` (``(None, J)`` for None, else ``build_channel_table``'s),
    flip-checked against ``flip_indices`` (None: DeepFashion2's for its slices, else none)."""
    if spec is None:
        return None, num_keypoints
    from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES
    from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
    from deepmark_mm.datasets.shared_channel_table import build_channel_table
    if flip_indices is None and \
            [tuple(s) for s in keypoint_slices] == [tuple(s) for s in KEYPOINT_SLICES]:
        flip_indices = deepfashion2_flip()
    table = build_channel_table(spec, keypoint_slices, flip_indices)
    return torch.from_numpy(table.slot_to_channel.copy()), table.num_channels
