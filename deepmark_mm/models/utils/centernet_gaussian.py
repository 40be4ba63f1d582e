# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's Gaussian targets: the radius formula, a vectorized drawer, the pixels a peak owns."""
from typing import Tuple

import torch
from torch import Tensor


def centernet_gaussian_radius(heights: Tensor, widths: Tensor, min_overlap: float = 0.7) -> Tensor:
    """Gaussian radius exactly as CenterNet's ``gaussian_radius`` (and DeepMark) computes it.

    mmdet's ``gaussian_radius`` is the corrected CornerNet formula, which gives about a third of
    these radii (0.82 instead of 2.73 for a 10 x 10 box); CenterNet takes each of the three
    quadratic roots as ``(b + sqrt(b^2 - 4ac)) / 2`` (no division by ``2a``). Kept so that the
    training targets are CenterNet's.

    Args:
        heights (Tensor): (...,) box heights in feature pixels (CenterNet passes ``ceil(h)``).
        widths (Tensor): (...,) box widths in feature pixels, same shape.
        min_overlap (float): The IoU the formula is meant to guarantee. Defaults to 0.7.

    Returns:
        Tensor: (...,) float radii (callers take ``max(0, int(r))``).
    """
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
    """Draw many Gaussian peaks into a batched heatmap at once, keeping the pixel-wise maximum.

    Each peak ``g`` is CenterNet's ``draw_umich_gaussian`` (the same as mmdet's
    ``gen_gaussian_target``): a ``(2r+1) x (2r+1)`` window of ``exp(-(dx^2 + dy^2) / (2 s^2))``
    with ``s = (2r+1) / 6``, values under ``eps`` of the dtype set to 0, written with ``max``.
    All peaks share one window of the largest radius (cells outside a peak's own radius are
    dropped) and land in the heatmap with a single ``scatter_reduce(amax)``.

    Args:
        heatmap (Tensor): (B, C, H, W) float heatmap, updated in place.
        batch_ids (Tensor): (G,) int image index of each peak.
        channels (Tensor): (G,) int channel of each peak.
        centers (Tensor): (G, 2) int (x, y) peak positions; out-of-map parts are clipped.
        radii (Tensor): (G,) int radii >= 0.

    Returns:
        Tensor: ``heatmap`` (B, C, H, W), the same tensor.
    """
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
    """The pixels near each peak that its Gaussian owns, for dense regression targets.

    Peak ``g`` covers the pixels of the ``(2w+1) x (2w+1)`` window around ``centers[g]``
    (``w = window_radius``) that lie in the map and inside its own Gaussian (offsets up to
    ``radii[g]`` with a value of at least the dtype's ``eps``, as :func:`draw_gaussians` draws it).
    A pixel covered by several peaks of one image goes to those with the largest Gaussian value
    there (the heatmap's own ``max`` rule; TTFNet instead lets the smaller box win); peaks tied
    at the maximum, such as two peaks on one pixel, all keep it, as CenterNet keeps both. With
    ``window_radius = 0`` every peak keeps exactly its own pixel, in input order.

    Args:
        batch_ids (Tensor): (G,) int image index of each peak.
        centers (Tensor): (G, 2) int (x, y) peak positions inside the map.
        radii (Tensor): (G,) int Gaussian radii >= 0.
        window_radius (int): ``w >= 0``.
        batch_size (int): B, the number of images.
        feat_size (tuple[int, int]): (H, W) of the map.

    Returns:
        tuple[Tensor]: ``peak_index`` (R,) int64 peak of each kept pixel, ``xs`` (R,) and ``ys``
        (R,) int64 pixel coordinates, ``weights`` (R,) float Gaussian values (1 at a peak's own
        pixel), grouped by peak in input order.
    """
    if window_radius < 0:
        raise ValueError(f'window_radius must be >= 0, got {window_radius}')
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
    """CenterNet Gaussians of ``radii`` (G,) sampled on a shared ``(2w+1)^2`` window per centre.

    Returns:
        tuple[Tensor]: ``xs`` and ``ys`` (G, S) int64 pixel coordinates (``S = (2w+1)^2``),
        ``values`` (G, S) ``exp(-(dx^2 + dy^2) / (2 s^2))`` with ``s = (2r+1) / 6``, and ``keep``
        (G, S) bool: in the map, within the peak's radius and ``values >= eps`` of ``dtype``.
    """
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
