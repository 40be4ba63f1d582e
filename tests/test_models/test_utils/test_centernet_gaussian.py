# Copyright (c) deepmark_mm contributors. All rights reserved.
import math

import pytest
import torch
from mmdet.models.utils import gaussian_radius as mmdet_gaussian_radius
from mmdet.models.utils import gen_gaussian_target

from deepmark_mm.models.utils.centernet_gaussian import (centernet_gaussian_radius,
                                                         draw_gaussians, gaussian_window_pixels)


def test_radius_is_centernet_formula_not_mmdet_corrected():
    # h = w = 10, min_overlap 0.7: CenterNet's third root (b3 + sqrt(b3^2 - 4 a3 c3)) / 2 with
    # a3 = 2.8, b3 = -28, c3 = -30 -> (-28 + sqrt(1120)) / 2 = 2.733; the other two are larger.
    expected = (-28 + math.sqrt(28**2 + 4 * 2.8 * 30)) / 2
    radius = centernet_gaussian_radius(torch.tensor([10.]), torch.tensor([10.]))
    assert radius.item() == pytest.approx(expected, rel=1e-6)
    assert int(radius.item()) == 2
    # mmdet's corrected formula: min root (40 - sqrt(40^2 - 16 * 30)) / 8 = 0.817, 3.3x smaller
    corrected = (40 - math.sqrt(40**2 - 16 * 30)) / 8
    assert mmdet_gaussian_radius((10, 10), 0.7) == pytest.approx(corrected, rel=1e-6)
    assert radius.item() > 3 * corrected


def test_radius_vectorized_and_asymmetric():
    heights = torch.tensor([4., 30., 7.])
    widths = torch.tensor([50., 12., 7.])
    radii = centernet_gaussian_radius(heights, widths)
    for h, w, r in zip(heights.tolist(), widths.tolist(), radii.tolist()):
        b1, c1 = h + w, w * h * 0.3 / 1.7
        b2, c2 = 2 * (h + w), 0.3 * w * h
        a3, b3, c3 = 2.8, -1.4 * (h + w), -0.3 * w * h
        r_ref = min((b1 + math.sqrt(b1**2 - 4 * c1)) / 2, (b2 + math.sqrt(b2**2 - 16 * c2)) / 2,
                    (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2)
        assert r == pytest.approx(r_ref, rel=1e-5)


def test_draw_gaussians_matches_mmdet_reference_loop():
    torch.manual_seed(0)
    batch, channels, height, width = 2, 3, 17, 23
    num = 12
    batch_ids = torch.randint(0, batch, (num, ))
    chans = torch.randint(0, channels, (num, ))
    # include peaks on and next to the borders and a radius-0 peak
    centers = torch.stack([torch.randint(0, width, (num, )), torch.randint(0, height, (num, ))], 1)
    centers[0] = torch.tensor([0, 0])
    centers[1] = torch.tensor([width - 1, height - 1])
    radii = torch.randint(0, 7, (num, ))
    radii[2] = 0
    heatmap = torch.zeros(batch, channels, height, width)
    out = draw_gaussians(heatmap, batch_ids, chans, centers, radii)
    assert out is heatmap

    reference = torch.zeros(batch, channels, height, width)
    for b, c, (x, y), r in zip(batch_ids.tolist(), chans.tolist(), centers.tolist(),
                               radii.tolist()):
        gen_gaussian_target(reference[b, c], [x, y], r)
    torch.testing.assert_close(heatmap, reference, rtol=0, atol=1e-6)
    # every peak reaches exactly 1 at its centre
    assert torch.all(heatmap[batch_ids, chans, centers[:, 1], centers[:, 0]] == 1)


def test_draw_gaussians_empty_is_noop():
    heatmap = torch.zeros(1, 2, 5, 5)
    empty = torch.zeros(0, dtype=torch.long)
    draw_gaussians(heatmap, empty, empty, torch.zeros(0, 2, dtype=torch.long), empty)
    assert heatmap.abs().sum() == 0


def test_gaussian_window_pixels_radius_zero_is_one_row_per_peak():
    centers = torch.tensor([[3, 4], [3, 4], [0, 7]])
    peak, xs, ys, weights = gaussian_window_pixels(torch.tensor([0, 0, 1]), centers,
                                                   torch.tensor([2, 1, 0]), 0, 2, (8, 8))
    assert peak.tolist() == [0, 1, 2]  # two peaks on one pixel both keep it
    assert torch.stack([xs, ys], 1).tolist() == centers.tolist()
    assert weights.tolist() == [1., 1., 1.]


def test_gaussian_window_pixels_values_borders_and_owners():
    # peak 0: radius 1 -> sigma 0.5; peak 1 two pixels right of it, radius 2 -> sigma 5/6;
    # peak 2 in image 1 at the corner: only its in-map quarter; peak 3 radius 0: its pixel only
    peak, xs, ys, weights = gaussian_window_pixels(
        torch.tensor([0, 0, 1, 1]), torch.tensor([[2, 2], [4, 2], [0, 0], [5, 5]]),
        torch.tensor([1, 2, 3, 0]), 1, 2, (8, 8))
    rows = {(int(p), int(x), int(y)): float(w) for p, x, y, w in zip(peak, xs, ys, weights)}
    # column x = 3 lies one pixel from both peaks of image 0: the wider Gaussian (peak 1) wins
    assert (0, 3, 2) not in rows and rows[(1, 3, 2)] == pytest.approx(math.exp(-0.5 / (25 / 36)))
    assert rows[(0, 1, 1)] == pytest.approx(math.exp(-2 / 0.5))  # diagonal of sigma 0.5
    assert sorted(k[1:] for k in rows if k[0] == 2) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [k for k in rows if k[0] == 3] == [(3, 5, 5)]
    assert len([k for k in rows if k[0] == 0]) == 6 and len([k for k in rows if k[0] == 1]) == 9
    assert peak.tolist() == sorted(peak.tolist())  # grouped by peak
