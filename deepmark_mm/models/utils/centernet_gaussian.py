# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's Gaussian heatmap targets: its radius formula and a vectorized drawer."""
import torch
from torch import Tensor


def centernet_gaussian_radius(heights: Tensor, widths: Tensor, min_overlap: float = 0.7) -> Tensor:
    """Gaussian radius exactly as CenterNet (and hence DeepMark) computes it.

    CenterNet's ``utils/image.py::gaussian_radius`` inherited an early CornerNet formula: each of
    its three quadratic roots is computed as ``(b + sqrt(b^2 - 4ac)) / 2`` (the first two even with
    the wrong root sign, all three without dividing by ``2a``). CornerNet later corrected it
    (mmdet's ``gaussian_radius`` is the corrected one), but CenterNet's published models, and
    DeepMark's, were trained with the imprecise formula, whose minimum is in practice the third
    root left undivided by ``2a = 2.8``: radii about three times the corrected ones (2.73 instead
    of 0.82 for a 10 x 10 box), i.e. wider Gaussians. It is kept on purpose so that training
    targets reproduce CenterNet/DeepMark; mmdet's ``gaussian_radius`` is the corrected one.

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
    device, dtype = heatmap.device, heatmap.dtype
    radii = radii.to(device=device, dtype=torch.long)
    max_radius = int(radii.max())
    steps = torch.arange(-max_radius, max_radius + 1, device=device)
    dy, dx = torch.meshgrid(steps, steps, indexing='ij')  # (S, S)
    sigma = ((2 * radii + 1).to(dtype) / 6).view(-1, 1, 1)  # (G, 1, 1)
    dist_sq = (dx * dx + dy * dy).to(dtype)
    values = (-dist_sq / (2 * sigma * sigma)).exp()  # (G, S, S), peak value 1 at the centre
    values = values * (values >= torch.finfo(dtype).eps)

    radii_view = radii.view(-1, 1, 1)
    xs = centers[:, 0].to(device=device, dtype=torch.long).view(-1, 1, 1) + dx
    ys = centers[:, 1].to(device=device, dtype=torch.long).view(-1, 1, 1) + dy
    keep = (dx.abs() <= radii_view) & (dy.abs() <= radii_view)
    keep &= (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    planes = (batch_ids.to(device=device, dtype=torch.long) * num_channels +
              channels.to(device=device, dtype=torch.long)).view(-1, 1, 1)
    flat_index = (planes * height + ys) * width + xs
    heatmap.view(-1).scatter_reduce_(
        0, flat_index[keep], values[keep], reduce='amax', include_self=True)
    return heatmap
