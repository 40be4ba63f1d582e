# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Per-slot maps <-> shared-channel maps, and the channel flip, on the semantic table."""
from types import SimpleNamespace

import pytest
import torch

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, flip_indices
from deepmark_mm.datasets.shared_channel_table import (channel_flip_indices,
                                                       deepfashion2_semantic_channel_table)
from deepmark_mm.models.task_modules import DeepMarkCodec
from deepmark_mm.models.utils.shared_channels import (channel_maps_to_slot_maps,
                                                      channel_representative_slots)

TABLE = deepfashion2_semantic_channel_table()
SLOT_TO_CHANNEL = torch.tensor(TABLE.slot_to_channel)
CHANNEL_FLIP = torch.tensor(channel_flip_indices(TABLE, flip_indices()))
SLOT_FLIP = torch.tensor(flip_indices())


def slot_maps_to_channel_maps(slot_maps, slot_to_channel, num_channels):
    """(B, G, H, W): channel g is the maximum over its slots (how shared targets are drawn)."""
    index = slot_to_channel.view(1, -1, 1, 1).expand_as(slot_maps)
    out = slot_maps.new_zeros(slot_maps.shape[0], num_channels, *slot_maps.shape[2:])
    return out.scatter_reduce_(1, index, slot_maps, 'amax', include_self=False)


def mirror_channel_maps(channel_maps, channel_flip):
    """The maps of the mirrored image: width flipped, channels swapped by ``channel_flip``."""
    return channel_maps.flip(-1)[:, channel_flip]


def decode_keypoint_peaks(heat, kpt_offset, k, vote_radius, slot_to_channel=None):
    """The codec's landmark peaks (every peak: score_thr 0), optionally with a slot table."""
    codec = DeepMarkCodec(num_classes=1, num_keypoints=heat.shape[1],
                          keypoint_slices=[(0, heat.shape[1])], kpt_topk=k,
                          kpt_vote_radius=vote_radius, grouping=dict(type='nearest', score_thr=0.))
    codec.kpt_slot_to_channel = slot_to_channel
    scores, keypoints = codec._keypoint_peaks(heat, kpt_offset)
    return SimpleNamespace(scores=scores, keypoints=keypoints)


def test_merge_takes_the_maximum_per_channel():
    slot_maps = torch.tensor([0.2, 0.9, 0.5, 0.1]).view(1, 4, 1, 1).repeat(2, 1, 1, 3)
    merged = slot_maps_to_channel_maps(slot_maps, torch.tensor([1, 0, 1, 2]), 4)
    assert merged.shape == (2, 4, 1, 3)
    assert merged[0, :, 0, 0].tolist() == pytest.approx([0.9, 0.5, 0.1, 0.0])


def test_gather_reproduces_the_slot_maps_of_one_category():
    torch.manual_seed(0)
    for label, (start, end) in enumerate(KEYPOINT_SLICES):
        slot_maps = torch.zeros(2, 294, 5, 6)
        slot_maps[:, start:end] = torch.rand(2, end - start, 5, 6)
        channel_maps = slot_maps_to_channel_maps(slot_maps, SLOT_TO_CHANNEL, TABLE.num_channels)
        assert channel_maps.shape == (2, 69, 5, 6)
        view = channel_maps_to_slot_maps(channel_maps, SLOT_TO_CHANNEL)
        assert torch.equal(view[:, start:end], slot_maps[:, start:end]), label


def test_two_categories_overlap_only_on_shared_channels():
    torch.manual_seed(1)
    top, skirt = KEYPOINT_SLICES[0], KEYPOINT_SLICES[8]
    slot_maps = torch.zeros(1, 294, 8, 8)
    slot_maps[:, top[0]:top[1], :, :4] = torch.rand(1, top[1] - top[0], 8, 4)  # left half
    slot_maps[:, skirt[0]:skirt[1], :, 4:] = torch.rand(1, skirt[1] - skirt[0], 8, 4)
    view = channel_maps_to_slot_maps(
        slot_maps_to_channel_maps(slot_maps, SLOT_TO_CHANNEL, TABLE.num_channels),
        SLOT_TO_CHANNEL)
    # inside each garment's half, its own slots read back exactly
    assert torch.equal(view[:, top[0]:top[1], :, :4], slot_maps[:, top[0]:top[1], :, :4])
    assert torch.equal(view[:, skirt[0]:skirt[1], :, 4:], slot_maps[:, skirt[0]:skirt[1], :, 4:])
    # the top's hem corner (shared with the skirt's) also sees the skirt on the right half
    hem_corner = top[0] + 14
    skirt_hem_corner = skirt[0] + 4
    assert TABLE.slot_to_channel[hem_corner] == TABLE.slot_to_channel[skirt_hem_corner]
    assert torch.equal(view[0, hem_corner, :, 4:], slot_maps[0, skirt_hem_corner, :, 4:])
    # the top's cuff is not shared with the skirt: zero on the right half
    assert view[0, top[0] + 8, :, 4:].abs().sum() == 0


def test_mirror_twice_is_identity_and_commutes_with_merging():
    torch.manual_seed(2)
    slot_maps = torch.rand(2, 294, 4, 7)
    channel_maps = slot_maps_to_channel_maps(slot_maps, SLOT_TO_CHANNEL, TABLE.num_channels)
    assert torch.equal(mirror_channel_maps(mirror_channel_maps(channel_maps, CHANNEL_FLIP),
                                           CHANNEL_FLIP), channel_maps)
    assert torch.equal(channel_maps[:, CHANNEL_FLIP][:, CHANNEL_FLIP], channel_maps)
    mirrored_slots = torch.flip(slot_maps, dims=(-1, ))[:, SLOT_FLIP]
    assert torch.equal(
        slot_maps_to_channel_maps(mirrored_slots, SLOT_TO_CHANNEL, TABLE.num_channels),
        mirror_channel_maps(channel_maps, CHANNEL_FLIP))
    # flip fusion of a view and its mirror view gives back the view
    fused = (channel_maps + mirror_channel_maps(mirror_channel_maps(channel_maps, CHANNEL_FLIP),
                                                CHANNEL_FLIP)) / 2
    assert torch.equal(fused, channel_maps)


def test_bad_inputs_are_named():
    with pytest.raises((IndexError, RuntimeError)):  # torch's index check (its own wording)
        channel_maps_to_slot_maps(torch.zeros(1, 10, 2, 2), SLOT_TO_CHANNEL)
    with pytest.raises(ValueError, match=r'maps must be \(B, G, H, W\)'):
        channel_maps_to_slot_maps(torch.zeros(10, 2, 2), SLOT_TO_CHANNEL)


def test_representative_slots_read_back_the_channels():
    table = torch.tensor([2, 0, 2, 1, 0, 3])
    first = channel_representative_slots(table)
    assert first.tolist() == [1, 3, 0, 5]
    maps = torch.rand(2, 4, 3, 5)
    view = channel_maps_to_slot_maps(maps, table)
    assert torch.equal(view.index_select(1, first), maps)


def test_shared_channel_peaks_vote_over_the_channels_not_the_slots():
    """Slots 0 and 1 share channel 0, slot 2 has channel 1. With window votes (radius 1) a pixel
    votes for a peak when the peak's channel is the one strictly largest: with the table the two
    slots of channel 0 do not compete, so all 9 pixels of the blob vote; on the bare per-slot
    view they tie everywhere and only the peak pixel reads (the vote is lost)."""
    table = torch.tensor([0, 0, 1])
    channels = torch.full((1, 2, 9, 9), 0.01)
    channels[0, 0, 3:6, 3:6] = 0.5
    channels[0, 0, 4, 4] = 0.9
    xs = torch.arange(9.).view(1, 9).expand(9, 9)
    kpt_offset = torch.stack([0.1 * xs, 0.05 * xs.t()]).unsqueeze(0)  # (1, 2, 9, 9)
    view = channel_maps_to_slot_maps(channels, table)
    shared = decode_keypoint_peaks(view, kpt_offset, k=1, vote_radius=1, slot_to_channel=table)

    # the blob's 9 pixels vote with their heat: 8 x 0.5 around, 0.9 in the middle
    weights = channels[0, 0, 3:6, 3:6]
    pixels_x, pixels_y = xs[3:6, 3:6], xs.t()[3:6, 3:6]
    expected = torch.stack([((pixels_x + 0.1 * pixels_x) * weights).sum(),
                            ((pixels_y + 0.05 * pixels_y) * weights).sum()]) / weights.sum()
    for slot in (0, 1):
        assert shared.scores[0, slot, 0] == pytest.approx(0.9)
        torch.testing.assert_close(shared.keypoints[0, slot, 0], expected)
    # each slot takes its channel's peaks: the G-channel decoding, indexed by the table
    per_channel = decode_keypoint_peaks(channels, kpt_offset, k=1, vote_radius=1)
    assert torch.equal(shared.keypoints, per_channel.keypoints.index_select(1, table))
    assert torch.equal(shared.scores, per_channel.scores.index_select(1, table))
    # the bare view: the two copies of channel 0 tie, only the peak pixel reads
    bare = decode_keypoint_peaks(view, kpt_offset, k=1, vote_radius=1)
    torch.testing.assert_close(bare.keypoints[0, 0, 0], torch.tensor([4.4, 4.2]))
