# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Flip fusion of head outputs: slot swapping, mirror geometry, symmetric inputs."""
import numpy as np
import pytest
import torch

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
from deepmark_mm.models.test_time_augs import fuse_flip_outputs

NUM_CLASSES = 13
HEIGHT, WIDTH = 5, 8


def random_outputs(batch: int, num_keypoints: int, seed: int = 0):
    """Six head maps with heatmaps as probabilities, offsets in [0, 1)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(channels):
        return torch.rand(batch, channels, HEIGHT, WIDTH, generator=gen)

    return (rand(NUM_CLASSES), 20 * rand(2), rand(2), 10 * rand(2 * num_keypoints) - 5,
            rand(num_keypoints), rand(2))


def mirror_outputs(outputs, flip):
    """What an exactly mirror-equivariant network returns for the mirrored image.

    Written out with plain indexing: column x -> W - 1 - x, slot j <- slot flip[j], and a point
    at cell x + dx (x integer) -> W - x - dx = cell (W - 1 - x) + (1 - dx).
    """
    center, wh, offset, kpt_reg, kpt_heatmap, kpt_offset = outputs
    batch, num_keypoints = kpt_heatmap.shape[:2]

    def reflect_dx(pairs):  # (B, N, 2, H, W)
        pairs = pairs.clone()
        pairs[:, :, 0] = 1 - pairs[:, :, 0]
        return pairs

    reg = kpt_reg.reshape(batch, num_keypoints, 2, HEIGHT, WIDTH)[:, flip].flip(-1)
    return (center.flip(-1), wh.flip(-1), reflect_dx(offset.flip(-1)[:, None])[:, 0],
            reflect_dx(reg).reshape(kpt_reg.shape), kpt_heatmap[:, flip].flip(-1),
            reflect_dx(kpt_offset.flip(-1)[:, None])[:, 0])


def stack(first, second):
    return [torch.cat([a, b]) for a, b in zip(first, second)]


def first_swapped_slot():
    flip = deepfashion2_flip()
    slot = int(np.nonzero(flip != np.arange(NUM_KEYPOINTS))[0][0])
    return slot, int(flip[slot])


def test_landmark_slot_lands_on_its_mirror_partner():
    """A peak of slot s at column x in the mirrored view ends in slot flip[s] at W - 1 - x."""
    slot, partner = first_swapped_slot()
    flip = torch.from_numpy(deepfashion2_flip())
    original = [torch.zeros_like(m) for m in random_outputs(1, NUM_KEYPOINTS)]
    mirrored = [torch.zeros_like(m) for m in original]
    mirrored[4][0, slot, 1, 1] = 0.8  # landmark heatmap
    mirrored[3][0, 2 * slot:2 * slot + 2, 3, 6] = torch.tensor([0.3, -1.5])  # kpt_reg dx, dy
    fused = fuse_flip_outputs(*stack(original, mirrored), flip)

    expected_heatmap = torch.zeros(1, NUM_KEYPOINTS, HEIGHT, WIDTH)
    expected_heatmap[0, partner, 1, WIDTH - 2] = 0.4
    assert torch.equal(fused.kpt_heatmap_probs, expected_heatmap)
    reg = fused.kpt_reg.view(1, NUM_KEYPOINTS, 2, HEIGHT, WIDTH)
    # the landmark sits at 6 + 0.3 = 6.3 in the mirror -> 8 - 6.3 = 1.7 = cell 1 + 0.7;
    # averaged with the original view's 0
    assert reg[0, partner, 0, 3, 1] == pytest.approx(0.7 / 2)
    assert reg[0, partner, 1, 3, 1] == pytest.approx(-1.5 / 2)
    assert reg[0, slot, 1].abs().sum() == 0 and reg[0, partner, 1].abs().sum() == 0.75
    # the partner stays inside the same category's slice
    owner = [i for i, (start, end) in enumerate(KEYPOINT_SLICES) if start <= slot < end]
    start, end = KEYPOINT_SLICES[owner[0]]
    assert start <= partner < end


def test_mirror_equivariant_outputs_fuse_to_the_original():
    """If the mirrored half is exactly the mirror of the first, fusion changes nothing."""
    flip = torch.from_numpy(deepfashion2_flip())
    outputs = random_outputs(2, NUM_KEYPOINTS)
    fused = fuse_flip_outputs(
        *stack(outputs, mirror_outputs(outputs, flip)), flip)
    for name, value, original in zip(fused._fields, fused, outputs):
        torch.testing.assert_close(value, original, msg=name)


def test_symmetric_image_gives_symmetric_fused_maps():
    """flip(x) == x: both halves are equal, the fused averaged maps are their own mirror (the
    offsets are the unflipped half's)."""
    flip = torch.tensor([1, 0, 2, 4, 3])
    outputs = random_outputs(1, 5, seed=3)
    fused = fuse_flip_outputs(*stack(outputs, outputs), flip)
    for name, value, mirrored in zip(fused._fields, fused, mirror_outputs(fused, flip)):
        if name not in ('offset', 'kpt_offset'):
            torch.testing.assert_close(value, mirrored, msg=name)
    # spelled out for the landmark heatmap: slot 0 at column x == slot 1 at column W - 1 - x
    torch.testing.assert_close(fused.kpt_heatmap_probs[:, 0], fused.kpt_heatmap_probs[:,
                                                                                      1].flip(-1))
    torch.testing.assert_close(fused.center_heatmap_probs, fused.center_heatmap_probs.flip(-1))


def test_offsets_come_from_the_unflipped_half():
    flip = torch.tensor([1, 0, 2])
    original, other = random_outputs(1, 3, seed=1), random_outputs(1, 3, seed=2)
    fused = fuse_flip_outputs(*stack(original, other), flip)
    assert torch.equal(fused.offset, original[2])
    assert torch.equal(fused.kpt_offset, original[5])
    torch.testing.assert_close(fused.center_heatmap_probs, (original[0] + other[0].flip(-1)) / 2)


def test_bad_inputs_are_rejected():
    flip = torch.tensor([1, 0, 2])
    outputs = random_outputs(3, 3)
    with pytest.raises(ValueError, match='odd batch'):
        fuse_flip_outputs(*outputs, flip)
    with pytest.raises(ValueError, match='flip_indices'):
        fuse_flip_outputs(*random_outputs(2, 3), torch.tensor([1, 0]))
