# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMarkCodec's garment and landmark-peak decoding: the peak's own reading, and the
heatmap-weighted vote of its window."""
from types import SimpleNamespace

import pytest
import torch

from deepmark_mm.models.task_modules import DeepMarkCodec
from deepmark_mm.models.utils.peak_topk import gather_at_pixels, peak_windows


def _codec(mask, **settings):
    """A codec whose categories own the slots of ``mask`` (C, J)."""
    codec = DeepMarkCodec(num_classes=1, num_keypoints=mask.shape[1],
                          keypoint_slices=[(0, mask.shape[1])], **settings)
    codec.category_keypoint_mask = mask
    return codec


def decode_garments(heat, wh, offset, kpt_reg, mask, k, vote_radius=0):
    fields = _codec(mask, topk=k, vote_radius=vote_radius)._garments(heat, wh, offset, kpt_reg)
    return SimpleNamespace(**dict(zip(('scores', 'labels', 'bboxes', 'coarse_keypoints',
                                       'keypoint_mask'), fields)))


def decode_keypoint_peaks(heat, kpt_offset, k, vote_radius=0):
    codec = _codec(torch.ones(1, heat.shape[1], dtype=torch.bool), kpt_topk=k,
                   kpt_vote_radius=vote_radius, grouping=dict(type='nearest', score_thr=0.))
    scores, keypoints = codec._keypoint_peaks(heat, kpt_offset)
    return SimpleNamespace(scores=scores, keypoints=keypoints)


# one category owning both landmark slots
MASK = torch.ones(1, 2, dtype=torch.bool)


def _maps(size=8):
    heat = torch.zeros(1, 1, size, size)
    wh = torch.zeros(1, 2, size, size)
    offset = torch.zeros(1, 2, size, size)
    kpt_reg = torch.zeros(1, 4, size, size)
    return heat, wh, offset, kpt_reg


def _set(maps, x, y, heat, wh, offset, kpt_reg):
    for tensor, values in zip(maps, (heat, wh, offset, kpt_reg)):
        tensor[0, :, y, x] = torch.as_tensor(values, dtype=torch.float32)


def test_vote_is_the_heatmap_weighted_mean_of_the_window_readings():
    maps = _maps()
    # the peak (3, 3) reads centre (3.5, 3.5), size 2; its right neighbour the same centre
    # (4 - 0.5, 3 + 0.5) with size 4; a far pixel (6, 6) outside the window must not count
    _set(maps, 3, 3, 0.8, (2., 2.), (0.5, 0.5), (1., 0., -1., 2.))
    _set(maps, 4, 3, 0.2, (4., 4.), (-0.5, 0.5), (0., 0., -2., 2.))
    _set(maps, 6, 6, 0.1, (9., 9.), (0., 0.), (5., 5., 5., 5.))
    single = decode_garments(*maps, MASK, k=1)
    torch.testing.assert_close(single.bboxes[0, 0], torch.tensor([2.5, 2.5, 4.5, 4.5]))
    torch.testing.assert_close(single.coarse_keypoints[0, 0], torch.tensor([[4., 3.], [2., 5.]]))
    voted = decode_garments(*maps, MASK, k=1, vote_radius=1)
    assert voted.scores[0, 0] == pytest.approx(0.8)  # scores and labels are the peak's
    # 0.8 * [2.5, 2.5, 4.5, 4.5] + 0.2 * [1.5, 1.5, 5.5, 5.5]
    torch.testing.assert_close(voted.bboxes[0, 0], torch.tensor([2.3, 2.3, 4.7, 4.7]))
    # landmarks: 0.8 * (4, 3) + 0.2 * (4, 3); 0.8 * (2, 5) + 0.2 * (2, 5)
    torch.testing.assert_close(voted.coarse_keypoints[0, 0], torch.tensor([[4., 3.], [2., 5.]]))


def test_vote_ignores_pixels_off_the_map_and_other_categories():
    heat, wh, offset, kpt_reg = _maps(4)
    heat = torch.cat([heat, torch.zeros_like(heat)], dim=1)  # two categories
    heat[0, 1, 0, 1] = 0.7  # category 1 right of the peak: not a vote for category 0
    wh[0, :, 0, 1] = 10.
    maps = (heat, wh, offset, kpt_reg)
    _set(maps, 0, 0, 0.9, (2., 2.), (0.5, 0.5), (0., 0., 0., 0.))
    heat[0, 1, 0, 0] = 0.  # _set wrote the peak into both channels
    mask = torch.ones(2, 2, dtype=torch.bool)
    voted = decode_garments(heat, wh, offset, kpt_reg, mask, k=2, vote_radius=1)
    corner = int((voted.labels[0] == 0).nonzero()[0])
    torch.testing.assert_close(voted.bboxes[0, corner], torch.tensor([-0.5, -0.5, 1.5, 1.5]))


def test_negative_vote_radius_is_refused():
    with pytest.raises(ValueError, match='vote_radius'):
        decode_garments(*_maps(), MASK, k=1, vote_radius=-1)


def test_landmark_vote_is_the_slot_heatmap_weighted_mean_of_the_window_readings():
    heat = torch.zeros(1, 2, 8, 8)
    kpt_offset = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 3, 3], kpt_offset[0, :, 3, 3] = 0.8, torch.tensor([0.25, 0.5])  # reads (3.25, 3.5)
    heat[0, 0, 3, 4], kpt_offset[0, :, 3, 4] = 0.2, torch.tensor([-0.5, 0.])  # reads (3.5, 3)
    # slot 1 peaks inside slot 0's window (not a vote for it) and in the corner
    heat[0, 1, 3, 2], kpt_offset[0, :, 3, 2] = 0.9, torch.tensor([5., 5.])  # reads (7, 8)
    heat[0, 1, 0, 0], kpt_offset[0, :, 0, 0] = 0.5, torch.tensor([0.1, 0.2])
    # pixels in slot 0's window that slot 0 does not own alone do not vote for it: slot 1 is
    # larger at (2, 3); the two slots tie at (3, 2), where a target regresses both landmarks
    heat[0, 0, 3, 2] = 0.5
    heat[0, :, 2, 3], kpt_offset[0, :, 2, 3] = 0.3, torch.tensor([9., 9.])
    single = decode_keypoint_peaks(heat, kpt_offset, k=2)
    torch.testing.assert_close(single.keypoints[0, 0, 0], torch.tensor([3.25, 3.5]))
    voted = decode_keypoint_peaks(heat, kpt_offset, k=2, vote_radius=1)
    torch.testing.assert_close(voted.scores, single.scores)  # scores are the peaks'
    # 0.8 * (3.25, 3.5) + 0.2 * (3.5, 3)
    torch.testing.assert_close(voted.keypoints[0, 0, 0], torch.tensor([3.3, 3.4]))
    torch.testing.assert_close(voted.keypoints[0, 1], torch.tensor([[7., 8.], [0.1, 0.2]]))
    with pytest.raises(ValueError, match='vote_radius'):
        decode_keypoint_peaks(heat, kpt_offset, k=2, vote_radius=-1)


def test_peak_windows_are_row_major_and_flag_pixels_off_the_map():
    pixel_index, pixels, on_map = peak_windows(torch.tensor([[0, 2]]), torch.tensor([[0, 1]]), 1,
                                               height=3, width=4)
    assert pixels.shape == (1, 2, 9, 2)
    torch.testing.assert_close(pixels[0, 1, :3], torch.tensor([[1., 0.], [2., 0.], [3., 0.]]))
    torch.testing.assert_close(pixels[0, 1, 4], torch.tensor([2., 1.]))  # the peak
    assert on_map[0, 1].all()
    assert pixel_index[0, 1].tolist() == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    # the corner peak: only (0, 0), (1, 0), (0, 1), (1, 1) are on the map
    assert on_map[0, 0].tolist() == [False] * 4 + [True, True, False, True, True]


def test_gather_at_pixels_reads_the_same_in_either_memory_format():
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    pixel_index = torch.tensor([[0, 7], [19, 6]])  # (x, y) = (0, 0), (2, 1); (4, 3), (1, 1)
    expected = torch.stack([feat[0, :, 0, 0], feat[0, :, 1, 2], feat[1, :, 3, 4],
                            feat[1, :, 1, 1]]).reshape(2, 2, 3)
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.testing.assert_close(
            gather_at_pixels(feat.contiguous(memory_format=layout), pixel_index), expected)


def test_bad_landmark_score_weight_and_grouping_are_refused():
    # the weighted scores' exact values: test_deepmark_head's keypoint_score_weight test
    with pytest.raises(ValueError, match='keypoint_score_weight'):
        DeepMarkCodec(keypoint_score_weight=1.5)
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping='closest')
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping=dict(type='nearest', score_thr=1.5))
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping=dict(type='exclusive', radius=2))
