# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMarkCodec's garment and landmark-peak decoding: each peak reads its own pixel."""
from types import SimpleNamespace

import pytest
import torch

from deepmark_mm.models.task_modules import DeepMarkCodec
from deepmark_mm.models.utils.peak_topk import gather_at_pixels


def _codec(mask, **settings):
    """A codec whose categories own the slots of ``mask`` (C, J)."""
    codec = DeepMarkCodec(num_classes=1, num_keypoints=mask.shape[1],
                          keypoint_slices=[(0, mask.shape[1])], **settings)
    codec.category_keypoint_mask = mask
    return codec


def decode_garments(heat, wh, offset, kpt_reg, mask, k):
    fields = _codec(mask, topk=k)._garments(heat, wh, offset, kpt_reg)
    return SimpleNamespace(**dict(zip(('scores', 'labels', 'bboxes', 'coarse_keypoints',
                                       'keypoint_mask'), fields)))


def decode_landmark_peaks(heat, kpt_offset, k):
    codec = _codec(torch.ones(1, heat.shape[1], dtype=torch.bool), kpt_topk=k,
                   grouping=dict(type='nearest', score_thr=0.))
    scores, keypoints = codec._landmark_peaks(heat, kpt_offset)
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


def test_a_garment_reads_box_and_coarse_landmarks_at_its_peak_pixel_only():
    maps = _maps()
    # the peak (3, 3) reads centre (3.5, 3.5), size 2; its right neighbour and a far pixel
    # hold other readings, which must not count
    _set(maps, 3, 3, 0.8, (2., 2.), (0.5, 0.5), (1., 0., -1., 2.))
    _set(maps, 4, 3, 0.2, (4., 4.), (-0.5, 0.5), (0., 0., -2., 2.))
    _set(maps, 6, 6, 0.1, (9., 9.), (0., 0.), (5., 5., 5., 5.))
    single = decode_garments(*maps, MASK, k=1)
    assert single.scores[0, 0] == pytest.approx(0.8) and int(single.labels[0, 0]) == 0
    torch.testing.assert_close(single.bboxes[0, 0], torch.tensor([2.5, 2.5, 4.5, 4.5]))
    # integer centre (3, 3) + kpt_reg (1, 0) and (-1, 2)
    torch.testing.assert_close(single.coarse_keypoints[0, 0], torch.tensor([[4., 3.], [2., 5.]]))


def test_garments_are_ranked_over_all_categories_and_read_their_own_pixel():
    heat, wh, offset, kpt_reg = _maps(4)
    heat = torch.cat([heat, torch.zeros_like(heat)], dim=1)  # two categories
    heat[0, 1, 0, 1] = 0.7  # category 1 right of category 0's peak
    wh[0, :, 0, 1] = 10.
    maps = (heat, wh, offset, kpt_reg)
    _set(maps, 0, 0, 0.9, (2., 2.), (0.5, 0.5), (0., 0., 0., 0.))
    heat[0, 1, 0, 0] = 0.  # _set wrote the peak into both channels
    decoded = decode_garments(heat, wh, offset, kpt_reg, torch.ones(2, 2, dtype=torch.bool), k=2)
    assert decoded.labels[0].tolist() == [0, 1]
    torch.testing.assert_close(decoded.scores[0], torch.tensor([0.9, 0.7]))
    torch.testing.assert_close(decoded.bboxes[0, 0], torch.tensor([-0.5, -0.5, 1.5, 1.5]))
    torch.testing.assert_close(decoded.bboxes[0, 1], torch.tensor([-4., -5., 6., 5.]))


def test_landmark_peaks_read_the_offset_at_their_pixel():
    heat = torch.zeros(1, 2, 8, 8)
    kpt_offset = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 3, 3], kpt_offset[0, :, 3, 3] = 0.8, torch.tensor([0.25, 0.5])  # reads (3.25, 3.5)
    heat[0, 0, 6, 6], kpt_offset[0, :, 6, 6] = 0.2, torch.tensor([-0.5, 0.])  # reads (5.5, 6)
    heat[0, 1, 3, 1], kpt_offset[0, :, 3, 1] = 0.9, torch.tensor([5., 5.])  # reads (6, 8)
    heat[0, 1, 0, 0], kpt_offset[0, :, 0, 0] = 0.5, torch.tensor([0.1, 0.2])
    peaks = decode_landmark_peaks(heat, kpt_offset, k=2)
    torch.testing.assert_close(peaks.scores, torch.tensor([[[0.8, 0.2], [0.9, 0.5]]]))
    torch.testing.assert_close(peaks.keypoints[0, 0], torch.tensor([[3.25, 3.5], [5.5, 6.]]))
    torch.testing.assert_close(peaks.keypoints[0, 1], torch.tensor([[6., 8.], [0.1, 0.2]]))


def test_gather_at_pixels_reads_the_same_in_either_memory_format():
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    pixel_index = torch.tensor([[0, 7], [19, 6]])  # (x, y) = (0, 0), (2, 1); (4, 3), (1, 1)
    expected = torch.stack([feat[0, :, 0, 0], feat[0, :, 1, 2], feat[1, :, 3, 4],
                            feat[1, :, 1, 1]]).reshape(2, 2, 3)
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.testing.assert_close(
            gather_at_pixels(feat.contiguous(memory_format=layout), pixel_index), expected)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='regression_radius'):
        DeepMarkCodec(regression_radius=-1)
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping='closest')
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping=dict(type='nearest', score_thr=1.5))
    with pytest.raises(ValueError, match='grouping'):
        DeepMarkCodec(grouping=dict(type='exclusive', radius=2))
