# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The sparse top-K of local maxima equals ``torch.topk`` over every pixel of the max-pooled
map, values and index order (ties included), and proves most rows without the dense fallback."""
import pytest
import torch
import torch.nn.functional as F

import deepmark_mm  # noqa: F401  (before mmdet: the mmcv._ext stand-in)
from mmdet.models.utils import get_local_maximum  # noqa: E402
from deepmark_mm.models.utils import peak_topk
from deepmark_mm.models.utils.peak_topk import (_candidate_topk, bool_nonzero,
                                                dense_topk_local_maxima, local_maxima_candidates,
                                                topk_local_maxima)


def _max_pool_topk(heat, k, per_channel):
    peaks = get_local_maximum(heat, kernel=3)
    rows = peaks.reshape(heat.shape[0], heat.shape[1], -1) if per_channel else \
        peaks.reshape(heat.shape[0], -1)
    return rows.topk(k, dim=-1)


def _mask(heat):
    """Where a pixel equals its 3 x 3 max-pool window's maximum."""
    return (F.max_pool2d(heat, 3, stride=1, padding=1) == heat).contiguous()


def _heatmaps(seed):
    """(name, map) pairs: smooth blobs, noise, quantised (plateaus, ties), zeros, negatives."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(2, 5, 24, 20, generator=generator)
    smooth = F.avg_pool2d(noise, 5, stride=1, padding=2)
    yield 'noise', noise
    yield 'smooth', smooth
    yield 'quantised', (noise * 4).floor() / 4
    yield 'quantised smooth', (smooth * 64).floor() / 64
    yield 'negative', noise - 0.7
    sparse = torch.zeros(2, 5, 24, 20)
    sparse[0, 1, 3:5, 3:5] = 0.9  # plateau of 4 tied maxima
    sparse[0, 2, 0, 0] = sparse[1, 4, 23, 19] = 0.9  # corners, tied across channels
    yield 'sparse', sparse
    tied_top = noise.clone()
    tied_top[:, :, ::4, ::4] = 2.0  # many separated maxima of the same value
    yield 'tied top', tied_top
    non_finite = noise.clone()
    non_finite[0, 0, 5, 5], non_finite[0, 1, 7, 7] = float('nan'), float('-inf')
    non_finite[1, 2, 9, 9] = float('inf')
    yield 'non-finite', non_finite


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('per_channel', [True, False])
def test_topk_local_maxima_is_dense_topk(seed, per_channel):
    for name, heat in _heatmaps(seed):
        row_length = heat[0, 0].numel() if per_channel else heat[0].numel()
        for k in (1, 3, 10, 40, row_length):
            expected = _max_pool_topk(heat, k, per_channel)
            for layout in (heat, heat.contiguous(memory_format=torch.channels_last)):
                scores, index = topk_local_maxima(layout, k, per_channel=per_channel)
                torch.testing.assert_close(scores, expected.values, rtol=0, atol=0,
                                           equal_nan=True, msg=f'{name} k={k}')
                assert torch.equal(index, expected.indices), (name, k)
                dense = dense_topk_local_maxima(layout, k, per_channel=per_channel)
                assert torch.equal(dense.indices, expected.indices), (name, k)


@pytest.mark.parametrize('block_elements', [1, 500, 1000, 1 << 17])
def test_candidates_of_plane_blocks_are_the_mask(monkeypatch, block_elements):
    """Blocks of 1, 1 (rounded down from 500 / 480 pixels), 2 and all 10 planes give the
    mask's nonzero indices and each plane's finiteness; the top-K from them is the dense one."""
    monkeypatch.setattr(peak_topk, '_BLOCK_ELEMENTS', block_elements)
    for name, heat in _heatmaps(4):
        candidates, values, finite = local_maxima_candidates(heat)
        expected = _mask(heat).view(-1).nonzero().squeeze(1)
        assert torch.equal(candidates, expected), name
        assert torch.equal(values, heat.reshape(-1)[expected]), name
        assert torch.equal(finite, torch.isfinite(heat).flatten(2).all(-1).view(-1)), name
        for per_channel in (True, False):
            scores, index = topk_local_maxima(heat, 7, per_channel=per_channel)
            expected_scores, expected_index = _max_pool_topk(heat, 7, per_channel)
            torch.testing.assert_close(scores, expected_scores, rtol=0, atol=0, equal_nan=True)
            assert torch.equal(index, expected_index), (name, per_channel)
    channels_last = torch.rand(2, 3, 6, 5).contiguous(memory_format=torch.channels_last)
    candidates, values, _ = local_maxima_candidates(channels_last)
    assert torch.equal(candidates, _mask(channels_last).view(-1).nonzero().squeeze(1))
    assert torch.equal(values, channels_last.contiguous().view(-1)[candidates])


@pytest.mark.parametrize('min_score', [0.05, 0.3, 0.9, 5.0])
def test_topk_above_keeps_every_dense_entry_at_least_min_score(min_score):
    """Each entry of the dense top-K scoring >= min_score (or NaN) is found at its place, every
    other place scores below min_score, and no column past the last such entry is kept."""
    for name, heat in _heatmaps(7):
        for k in (1, 3, 40):
            expected_scores, expected_index = _max_pool_topk(heat, k, per_channel=True)
            scores, index = topk_local_maxima(heat, k, min_score=min_score)
            width = scores.shape[-1]
            kept = ~(expected_scores < min_score)  # NaN kept
            assert width == (int(kept.any((0, 1)).nonzero().max()) + 1 if kept.any() else 0)
            assert not kept[..., width:].any(), (name, k)
            kept = kept[..., :width]
            torch.testing.assert_close(scores[kept], expected_scores[..., :width][kept],
                                       rtol=0, atol=0, equal_nan=True, msg=f'{name} k={k}')
            assert torch.equal(index[kept], expected_index[..., :width][kept]), (name, k)
            assert (scores[~kept] < min_score).all(), (name, k)
    with pytest.raises(ValueError, match='min_score > 0'):
        topk_local_maxima(torch.rand(1, 1, 4, 4), 2, min_score=0.)
    with pytest.raises(ValueError, match='per_channel'):
        topk_local_maxima(torch.rand(1, 1, 4, 4), 2, per_channel=False, min_score=0.5)


def test_word_packed_nonzero_is_nonzero():
    """Sizes with and without whole 8-byte words, empty to full masks, flags at both ends."""
    generator = torch.Generator().manual_seed(6)
    for size in (0, 1, 7, 8, 9, 64, 1001, 4096):
        for density in (0., 0.01, 0.3, 1.):
            mask = torch.rand(size, generator=generator) < density
            assert torch.equal(bool_nonzero(mask), mask.nonzero().squeeze(1)), (size, density)
    ends = torch.zeros(40, dtype=torch.bool)
    ends[[0, 7, 8, 39]] = True
    assert bool_nonzero(ends).tolist() == [0, 7, 8, 39]
    odd = torch.rand(1, 3, 5, 5, generator=generator)  # 75 pixels: no whole words
    assert torch.equal(local_maxima_candidates(odd)[0],
                       _mask(odd).view(-1).nonzero().squeeze(1))


def test_fast_path_proves_distinct_rows_and_refuses_ties():
    """The shortcut is taken where it is provable: rows with distinct values are exact, rows
    with tied, missing (fewer than K positive maxima) or non-finite values go to the fallback."""
    heat = torch.rand(3, 4, 32, 32, generator=torch.Generator().manual_seed(5))
    heat[0, 1, 10, 10] = heat[0, 1, 20, 20] = 2.0  # two separated tied maxima at the top
    heat[1, 2] = 0
    heat[1, 2, 4, 4] = 0.5  # one positive maximum, K = 10 needs zeros
    heat[2, 3, 0, 0] = float('nan')
    _, _, exact = _candidate_topk(heat, 10, 12)
    expected = torch.ones(12, dtype=torch.bool)
    expected[[1, 6, 11]] = False
    assert torch.equal(exact, expected)


def test_tracing_runs_the_dense_topk(monkeypatch):
    """Under export the result comes from the dense computation (no data-dependent branch)."""
    calls = []

    def dense(*args, **kwargs):
        calls.append(args[1])
        return dense_topk_local_maxima(*args, **kwargs)

    monkeypatch.setattr(peak_topk, 'dense_topk_local_maxima', dense)
    heat = torch.rand(1, 2, 8, 8)
    monkeypatch.setattr(peak_topk, 'is_tracing', lambda: True)
    traced = topk_local_maxima(heat, 3)
    assert calls == [3]
    monkeypatch.setattr(peak_topk, 'is_tracing', lambda: False)
    assert all(torch.equal(a, b) for a, b in zip(traced, topk_local_maxima(heat, 3)))
    assert calls == [3]  # distinct random values: no fallback


def test_jit_trace_keeps_the_dense_graph():
    """A traced decoding (torch.onnx.export with dynamo=False traces) has no nonzero and gives
    the dense answer on new maps, ties included."""
    heat = torch.rand(1, 3, 10, 10)
    traced = torch.jit.trace(lambda h: topk_local_maxima(h, 5), heat)
    assert 'nonzero' not in str(traced.graph)
    tied = (torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(7)) * 3).floor()
    for ours, dense in zip(traced(tied), _max_pool_topk(tied, 5, True)):
        assert torch.equal(ours, dense)


def test_gradient_flows_to_the_heatmap():
    heat = torch.rand(1, 2, 9, 9, generator=torch.Generator().manual_seed(2)).requires_grad_()
    scores, index = topk_local_maxima(heat, 4)
    scores.sum().backward()
    grad = heat.grad.view(2, -1)
    assert torch.equal(grad.nonzero()[:, 1].view(2, 4).sort(-1).values, index.view(2, 4).sort(-1)
                       .values)
    assert torch.equal(grad.sum(-1), torch.full((2, ), 4.0))
