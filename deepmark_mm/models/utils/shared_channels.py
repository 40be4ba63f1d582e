# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Pure tensor maps between per-slot landmark maps and shared-channel maps.

A slot -> channel table (:class:`deepmark_mm.datasets.shared_channel_table.KeypointChannelTable`)
sends each of the J landmark slots to one of G channels. These functions take the table as a
(J,) int64 tensor ``slot_to_channel`` and, for flips, the (G,) channel permutation from
:func:`deepmark_mm.datasets.shared_channel_table.channel_flip_indices`.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def _check_table(maps: Tensor, slot_to_channel: Tensor, dim_size: int, what: str) -> None:
    if maps.dim() != 4:
        raise ValueError(f'{what}: maps must be (B, C, H, W), got shape {tuple(maps.shape)}')
    if slot_to_channel.dim() != 1 or slot_to_channel.dtype != torch.long:
        raise ValueError(f'{what}: slot_to_channel must be a 1-D int64 tensor, got '
                         f'{slot_to_channel.dtype} of shape {tuple(slot_to_channel.shape)}')
    if maps.shape[1] != dim_size:
        raise ValueError(f'{what}: maps have {maps.shape[1]} channels, expected {dim_size}')


def slot_maps_to_channel_maps(slot_maps: Tensor, slot_to_channel: Tensor,
                              num_channels: int) -> Tensor:
    """(B, G, H, W) shared-channel maps of (B, J, H, W) per-slot maps: channel ``g`` is the
    maximum over its slots (as CenterNet's drawing within one channel), 0 on an unused channel;
    ``slot_to_channel`` (J,) int64 in ``[0, G)``."""
    _check_table(slot_maps, slot_to_channel, slot_to_channel.numel(), 'slot_maps_to_channel_maps')
    batch, _, height, width = slot_maps.shape
    out = slot_maps.new_zeros(batch, num_channels, height, width)
    index = slot_to_channel.to(slot_maps.device).view(1, -1, 1, 1).expand_as(slot_maps)
    return out.scatter_reduce_(1, index, slot_maps, 'amax', include_self=False)


def channel_maps_to_slot_maps(channel_maps: Tensor, slot_to_channel: Tensor) -> Tensor:
    """(B, J, H, W) per-slot view of (B, G, H, W) shared-channel maps: slot ``j`` reads
    channel ``slot_to_channel[j]``, so the per-slot decoding runs unchanged on shared maps."""
    if channel_maps.dim() != 4:
        raise ValueError('channel_maps_to_slot_maps: maps must be (B, G, H, W), got shape '
                         f'{tuple(channel_maps.shape)}')
    if slot_to_channel.numel() and int(slot_to_channel.max()) >= channel_maps.shape[1]:
        raise ValueError(f'channel_maps_to_slot_maps: table reads channel '
                         f'{int(slot_to_channel.max())} of {channel_maps.shape[1]}')
    return channel_maps.index_select(1, slot_to_channel.to(channel_maps.device))


def channel_representative_slots(slot_to_channel: Tensor) -> Tensor:
    """(G,) int64 first slot of each channel of a (J,) table using every channel: reading them
    from the per-slot view gives the G channels back."""
    slots = torch.arange(slot_to_channel.numel(), device=slot_to_channel.device)
    num_channels = int(slot_to_channel.max()) + 1 if slot_to_channel.numel() else 0
    first = torch.full((num_channels, ), slot_to_channel.numel(), dtype=torch.long,
                       device=slot_to_channel.device)
    return first.scatter_reduce(0, slot_to_channel, slots, 'amin')


def swap_flipped_channels(channel_maps: Tensor, channel_flip: Tensor) -> Tensor:
    """(B, G, H, W) maps with channel ``g`` taken from ``channel_flip[g]`` ((G,) int64
    involution), as a horizontal flip renames them (no spatial flip)."""
    _check_table(channel_maps, channel_flip, channel_flip.numel(), 'swap_flipped_channels')
    return channel_maps.index_select(1, channel_flip.to(channel_maps.device))


def mirror_channel_maps(channel_maps: Tensor, channel_flip: Tensor) -> Tensor:
    """(B, G, H, W) maps of the horizontally mirrored image: width flipped, channels swapped
    by the (G,) ``channel_flip`` involution."""
    return swap_flipped_channels(torch.flip(channel_maps, dims=(-1, )), channel_flip)


def head_channel_table(spec: object, num_keypoints: int,
                       keypoint_slices: Sequence[Sequence[int]],
                       flip_indices: Optional[Sequence[int]] = None
                       ) -> Tuple[Optional[Tensor], int]:
    """The (J,) int64 slot -> channel table and channel count of a head's
    ``kpt_heatmap_channels`` ``spec``: ``(None, J)`` for None, else what
    :func:`deepmark_mm.datasets.shared_channel_table.build_channel_table` makes of it (a table,
    ``'semantic'``, a json path, a dict), flip-checked against ``flip_indices`` (None:
    DeepFashion2's when the slices are DeepFashion2's, else no check)."""
    if spec is None:
        return None, num_keypoints
    from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES
    from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
    from deepmark_mm.datasets.shared_channel_table import build_channel_table
    if flip_indices is None and \
            [tuple(s) for s in keypoint_slices] == [tuple(s) for s in KEYPOINT_SLICES]:
        flip_indices = deepfashion2_flip()
    table = build_channel_table(spec, keypoint_slices, flip_indices)
    if table.num_slots != num_keypoints:
        raise ValueError(f'{table.source}: maps {table.num_slots} slots, the head has '
                         f'{num_keypoints}')
    return torch.from_numpy(table.slot_to_channel.copy()), table.num_channels
