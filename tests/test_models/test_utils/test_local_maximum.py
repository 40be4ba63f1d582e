# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The head's predictions do not change with the sparse top-K (the committed
``get_local_maximum`` decoding, a max-pool then ``torch.topk`` over every pixel, is the
reference)."""
import itertools

import pytest
import torch

import deepmark_mm  # noqa: F401  (before mmdet: the mmcv._ext stand-in)
from mmdet.models.utils import get_local_maximum  # noqa: E402
from deepmark_mm.models.task_modules import DeepMarkCodec, deepmark_codec

FIELDS = ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores')


def _maps(kind: str, batch: int = 2, size: int = 12, seed: int = 0):
    """Head probability maps (13 categories, 294 slots): random, or crafted blobs with ties."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(batch, *shape, size, size, generator=generator)

    wh = rand(2) * size / 2 + 1
    offset, kpt_offset = rand(2), rand(2)
    kpt_reg = (rand(588) - 0.5) * size / 2
    if kind == 'random':
        return [rand(13) ** 2, wh, offset, kpt_reg, rand(294) ** 2, kpt_offset]
    # crafted: few peaks (fewer than top-K local maxima), 2x2 plateaus, peaks on the border
    center = torch.zeros(batch, 13, size, size)
    center[0, 1, 3:5, 3:5] = 0.9  # plateau: 4 tied maxima
    center[0, 6, 8, 0] = 0.9  # tie with it, on the border
    center[1, 10, size - 1, size - 1] = 0.7
    center[1, 10, 5, 5], center[1, 10, 5, 6] = 0.6, 0.6
    kpt = torch.zeros(batch, 294, size, size)
    kpt[:, :, 2:6, 2:6] = 0.3
    kpt[:, ::3, 4, 4] = 0.8
    kpt[:, 1::7, 0, 1:3] = 0.5
    kpt[:, 5, 9:11, 9:11] = 0.95
    return [center, wh, offset, kpt_reg, kpt, kpt_offset]


def max_pool_topk(heat, k, kernel=3, per_channel=True, min_score=None):
    """The committed decoding's top-K: mmdet's max-pool NMS, then ``torch.topk`` over all pixels
    of each map (``per_channel``) or of each image (mmdet's ``get_topk_from_heatmap``)."""
    peaks = get_local_maximum(heat, kernel=kernel)
    rows = peaks.reshape(heat.shape[0], heat.shape[1], -1) if per_channel else \
        peaks.reshape(heat.shape[0], -1)
    return rows.topk(k, dim=-1)


def _predict(grouping, maps, cfg, old: bool):
    metas = [dict(batch_input_shape=(4 * maps[0].shape[2], 4 * maps[0].shape[3]))] * \
        maps[0].shape[0]
    if old:  # and every landmark peak found (min_score ignored), not only those grouped
        new = deepmark_codec.topk_local_maxima
        deepmark_codec.topk_local_maxima = max_pool_topk
    try:
        return DeepMarkCodec(**cfg, grouping=grouping).decode(maps, metas)
    finally:
        if old:
            deepmark_codec.topk_local_maxima = new


TEST_CFGS = [
    dict(topk=100, local_maximum_kernel=3, max_per_img=100),
    dict(topk=7, kpt_topk=3, max_per_img=5),
    dict(topk=20, local_maximum_kernel=5, kpt_topk=300, max_per_img=20),
    dict(topk=20, local_maximum_kernel=1, max_per_img=20),
    dict(topk=30, vote_radius=1, kpt_vote_radius=2, max_per_img=30),
    dict(topk=30, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10),
    dict(topk=30, keypoint_score_weight=0.5, kpt_vote_radius=1, max_per_img=30),
]


@pytest.mark.parametrize('grouping', ['CenterNetKeypointGrouping', 'ExclusiveKeypointGrouping'])
@pytest.mark.parametrize('score_thr', [0.1, 0.6])
def test_predictions_equal_the_committed_decoding(grouping, score_thr):
    """Including the landmark peaks the grouping ignores: the committed decoding finds all
    ``kpt_topk`` of every slot, the new one only those scoring at least ``score_thr``."""
    head = dict(type=grouping, score_thr=score_thr)  # the codec's grouping setting
    for (kind, seed, size), cfg in itertools.product(
            [('random', 0, 12), ('crafted', 0, 12), ('random', 1, 40)], TEST_CFGS):
        maps = _maps(kind, seed=seed, size=size)
        new = _predict(head, maps, cfg, old=False)
        old = _predict(head, maps, cfg, old=True)
        assert len(new) == 2 and sum(len(r) for r in old) > 0
        for ours, reference in zip(new, old):
            for field in FIELDS:
                assert torch.equal(ours.get(field), reference.get(field)), (kind, cfg, field)
    # channels-last maps (the head's layout on CPU) decode the same
    maps = [m.contiguous(memory_format=torch.channels_last) for m in _maps('random', seed=2)]
    for ours, reference in zip(_predict(head, maps, TEST_CFGS[0], False),
                               _predict(head, maps, TEST_CFGS[0], True)):
        assert all(torch.equal(ours.get(f), reference.get(f)) for f in FIELDS)
