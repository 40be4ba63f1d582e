# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's Gaussian targets: the radius formula, a vectorized drawer, the pixels a peak owns."""
from typing import Tuple

import torch
from torch import Tensor


def centernet_gaussian_radius(heights: Tensor, widths: Tensor, min_overlap: float = 0.7) -> Tensor:
    """(...,) float radii of (...,) box heights / widths in feature pixels, CenterNet's
    ``gaussian_radius`` (roots not divided by ``2a``; mmdet's corrected one gives a third)."""
    heights = heights.float()
    widths = widths.float()
    b1 = heights + widths
    c1 = widths * heights * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + (b1**2 - 4 * c1).sqrt()) / 2

    b2 = 2 * (heights + widths)
    c2 = (1 - min_overlap) * widths * heights
    r2 = (b2 + (b2**2 - 16 * c2).sqrt()) / 2

    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (heights + widths)
    c3 = (min_overlap - 1) * widths * heights
    r3 = (b3 + (b3**2 - 4 * a3 * c3).sqrt()) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def draw_gaussians(heatmap: Tensor, batch_ids: Tensor, channels: Tensor, centers: Tensor,
                   radii: Tensor) -> Tensor:
    """Draw G peaks of mmdet's ``gen_gaussian_target`` into ``heatmap`` (B, C, H, W) in place,
    keeping the maximum, in one scatter (mmdet's draws one per call): (G, 2) int (x, y)
    ``centers``, (G,) ``radii``, image ``batch_ids`` and ``channels``. Returns ``heatmap``."""
    num_peaks = radii.numel()
    if num_peaks == 0:
        return heatmap
    _, num_channels, height, width = heatmap.shape
    radii = radii.to(device=heatmap.device, dtype=torch.long)
    xs, ys, values, keep = _gaussian_windows(centers.to(heatmap.device), radii, int(radii.max()),
                                             heatmap.dtype, (height, width))
    planes = (batch_ids.to(device=heatmap.device, dtype=torch.long) * num_channels +
              channels.to(device=heatmap.device, dtype=torch.long)).view(-1, 1)
    flat_index = (planes * height + ys) * width + xs
    heatmap.view(-1).scatter_reduce_(
        0, flat_index[keep], values[keep], reduce='amax', include_self=True)
    return heatmap


def gaussian_window_pixels(batch_ids: Tensor, centers: Tensor, radii: Tensor, window_radius: int,
                           batch_size: int, feat_size: Tuple[int, int]) -> Tuple[Tensor, ...]:
    """The pixels of its ``(2w+1)^2`` window (``w = window_radius >= 0``) inside its Gaussian
    that each of G peaks owns ((G,) ``batch_ids``, (G, 2) int (x, y) ``centers`` in the (H, W)
    ``feat_size`` map, (G,) ``radii``): a pixel goes to the peaks of its image with the largest
    value there (ties: all of them).

    Returns:
        tuple[Tensor]: (R,) ``peak_index``, ``xs``, ``ys`` (int64) and ``weights`` (Gaussian
        values, 1 at the peak) of the kept pixels, grouped by peak in input order.
    """
    height, width = int(feat_size[0]), int(feat_size[1])
    device = centers.device
    radii = radii.to(device=device, dtype=torch.long)
    xs, ys, values, keep = _gaussian_windows(centers, radii, window_radius, torch.float32,
                                             (height, width))
    peak_index, cell = keep.nonzero(as_tuple=True)
    xs, ys, weights = xs[peak_index, cell], ys[peak_index, cell], values[peak_index, cell]
    flat_index = (batch_ids.to(device=device, dtype=torch.long)[peak_index] * height + ys) \
        * width + xs
    best = weights.new_zeros(batch_size * height * width).scatter_reduce_(
        0, flat_index, weights, reduce='amax', include_self=True)
    owned = weights >= best[flat_index]
    return peak_index[owned], xs[owned], ys[owned], weights[owned]


def _gaussian_windows(centers: Tensor, radii: Tensor, window_radius: int, dtype: torch.dtype,
                      feat_size: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """CenterNet Gaussians of ``radii`` (G,) on a ``(2w+1)^2`` window per centre: (G, S) int64
    ``xs``, ``ys``, ``values`` (``sigma = (2r+1) / 6``) and bool ``keep`` (in the map, within
    the radius, ``values >= eps`` of ``dtype``)."""
    height, width = feat_size
    steps = torch.arange(-window_radius, window_radius + 1, device=centers.device)
    dy, dx = (grid.reshape(1, -1) for grid in torch.meshgrid(steps, steps, indexing='ij'))
    radii = radii.view(-1, 1)
    sigma = (2 * radii + 1).to(dtype) / 6  # (G, 1)
    values = (-(dx * dx + dy * dy).to(dtype) / (2 * sigma * sigma)).exp()  # (G, S), 1 at a peak
    xs = centers[:, :1].long() + dx
    ys = centers[:, 1:2].long() + dy
    keep = (dx.abs() <= radii) & (dy.abs() <= radii) & (values >= torch.finfo(dtype).eps)
    keep &= (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    return xs, ys, values, keep
