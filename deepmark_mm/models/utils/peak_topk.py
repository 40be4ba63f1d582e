# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Top-K local maxima of heatmaps, exactly mmdet's ``get_local_maximum`` then ``torch.topk``.

On the CPU the sparse maxima are compacted and the top-K runs on them (PyTorch has no sparse or
segmented top-K); rows not provably exact, tracing and non-CPU devices run the dense computation
(why and how fast: docs/deployment.md, "Decoding speed"). The last functions read maps around peaks.
"""
from typing import Optional, Tuple

import torch
from mmdet.models.utils import get_local_maximum
from torch import Tensor


def is_tracing() -> bool:
    """Whether the code runs under ``torch.jit`` tracing, ONNX export or ``torch.compile``."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or torch.compiler.is_exporting())


def _max3_along(values: Tensor, step: int, planes_shape: Tuple[int, int, int], dim: int,
                pairs: Tensor, out: Tensor) -> None:
    """Into ``out`` (N,): the 3-window maxima (clipped at the border) of the (N,) ``values`` of
    contiguous (P, H, W) planes along ``dim`` (2: W, ``step`` 1; 1: H, ``step`` W; size >= 2);
    ``pairs`` (N,) is scratch, ``out`` may be ``values``."""
    size = values.numel()
    torch.maximum(values[:size - step], values[step:], out=pairs[:size - step])
    torch.maximum(pairs[:size - 2 * step], pairs[step:size - step], out=out[step:size - step])
    # out[0] = pairs[0] and out[L - 1] = pairs[L - 2] along the axis, as one strided copy
    length = planes_shape[dim]
    ends, pair_ends = [slice(None)] * 3, [slice(None)] * 3
    ends[dim] = slice(None, None, length - 1)
    pair_ends[dim] = slice(0, length - 1, max(length - 2, 1))  # both ends when length is 2
    out.view(planes_shape)[tuple(ends)].copy_(pairs.view(planes_shape)[tuple(pair_ends)])


# elements per block of planes in :func:`local_maxima_candidates` (fits the L2 cache)
_BLOCK_ELEMENTS = 1 << 17


def bool_nonzero(mask: Tensor) -> Tensor:
    """(M,) ascending ``mask.nonzero()`` of an (N,) contiguous bool mask, read as int64 words
    first (PyTorch has no bit-packed ``nonzero``)."""
    if mask.numel() % 8:
        return mask.nonzero().squeeze(1)
    packed = mask.view(torch.int64)
    words = packed.nonzero().squeeze(1)  # (W,) words holding a flag
    in_words = packed.index_select(0, words).view(torch.bool).nonzero().squeeze(1)  # into W * 8
    return words.index_select(0, in_words >> 3) * 8 + (in_words & 7)


def local_maxima_candidates(heat: Tensor,
                            min_score: Optional[float] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """The M 3 x 3 local maxima of a (B, C, H, W) map (H, W >= 2), only those scoring at least
    ``min_score`` if given: (M,) int64 ascending indices into ``heat.contiguous().view(-1)``, (M,)
    values (the gradient flows to the heatmap), (B * C,) bool planes free of NaN and infinity;
    the mask is built in cache-sized blocks of whole planes."""
    batch_size, channels, height, width = heat.shape
    if height < 2 or width < 2:
        raise ValueError(
            f'local_maxima_candidates needs maps of at least 2 x 2, got {height} x {width}')
    num_planes, plane_size = batch_size * channels, height * width
    planes = heat.contiguous().view(num_planes, plane_size)
    detached = planes.detach()
    block = max(1, min(num_planes, _BLOCK_ELEMENTS // plane_size))
    pairs, window_max = (detached.new_empty(block * plane_size) for _ in range(2))
    mask = torch.empty(num_planes * plane_size, dtype=torch.bool, device=heat.device)
    plane_sums = detached.new_empty(num_planes)
    for first in range(0, num_planes, block):
        flat = detached[first:first + block].reshape(-1)
        size = flat.numel()
        shape = (size // plane_size, height, width)
        _max3_along(flat, 1, shape, 2, pairs[:size], window_max[:size])  # along W
        _max3_along(window_max[:size], width, shape, 1, pairs[:size], window_max[:size])  # H
        if min_score is not None:  # x >= max(window max, t): a maximum scoring at least t
            window_max[:size].clamp_(min=min_score)
        # max >= pixel, so '>=' is '==' (NaN: False); 0 / 1 floats then cast (faster on the CPU)
        torch.ge(flat, window_max[:size], out=pairs[:size])
        mask[first * plane_size:first * plane_size + size].copy_(pairs[:size])
        torch.sum(flat.view(-1, plane_size), -1, out=plane_sums[first:first + size // plane_size])
    index = bool_nonzero(mask)
    values = (planes if planes.requires_grad else detached).reshape(-1).index_select(0, index)
    return index, values, torch.isfinite(plane_sums)


def dense_topk_local_maxima(heat: Tensor, k: int, kernel: int = 3, per_channel: bool = True,
                            min_score: Optional[float] = None) -> Tuple[Tensor, Tensor]:
    """:func:`topk_local_maxima` on the full masked map, no data-dependent branch (same
    arguments and results; ``min_score`` ignored: every column kept)."""
    peaks = get_local_maximum(heat, kernel=kernel)
    rows = peaks.reshape(heat.shape[0], heat.shape[1], -1) if per_channel else \
        peaks.reshape(heat.shape[0], -1)
    return rows.topk(k, dim=-1)


def _candidate_topk(heat: Tensor, k: int, num_rows: int,
                    min_score: Optional[float] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """(R, k) scores and int64 index in the row of the top-K compacted 3 x 3 local maxima of
    each row, and (R,) bool provably exact (with ``min_score``: only maxima scoring at least it
    are candidates, padding scores -inf, exact on the entries scoring at least it)."""
    row_length = heat.numel() // num_rows
    candidates, values, plane_finite = local_maxima_candidates(heat, min_score)  # ascending
    num_candidates = candidates.numel()
    row_ids = torch.arange(num_rows, device=heat.device)
    row_offsets = row_ids * row_length  # (R,)
    starts = torch.searchsorted(candidates, row_offsets)  # (R,) first candidate of each row
    counts = torch.diff(starts, append=starts.new_full((1, ), num_candidates))
    width = max(int(counts.max()) if num_candidates else 0, k + 1)
    # candidate i of row r goes to column i - starts[r] of row r in a (R, width) -inf padded array
    row_shift = row_ids * width - starts
    padded_at = torch.arange(num_candidates, device=heat.device) + row_shift.repeat_interleave(
        counts, output_size=num_candidates)
    padded = values.new_full((num_rows * width, ), float('-inf')).index_copy(0, padded_at, values)
    top_values, top_columns = padded.view(num_rows, width).detach().topk(k + 1, dim=-1)
    # exact: the K best are positive (above every non-maximum's 0), strictly decreasing, above
    # the next candidate, and the row is finite
    decreasing = top_values[:, :k] > top_values[:, 1:]
    if min_score is None:
        exact = (top_values[:, k - 1] > 0) & decreasing.all(-1)
    else:  # only the candidates (>= min_score > 0 = every non-maximum) must be in order
        exact = (decreasing | (top_values[:, 1:] == float('-inf'))).all(-1)
    exact &= plane_finite.view(num_rows, -1).all(-1)
    columns = top_columns[:, :k]
    # column c of row r holds candidate starts[r] + c (clamped: padding of inexact rows)
    if num_candidates == 0:
        return top_values[:, :k], torch.zeros_like(columns), exact
    taken = (starts.unsqueeze(1) + columns).clamp(max=num_candidates - 1)
    return (padded.view(num_rows, width).gather(1, columns),
            candidates.take(taken) - row_offsets.unsqueeze(1), exact)


def topk_local_maxima(heat: Tensor,
                      k: int,
                      kernel: int = 3,
                      per_channel: bool = True,
                      min_score: Optional[float] = None) -> Tuple[Tensor, Tensor]:
    """``torch.topk`` of ``get_local_maximum(heat, kernel)`` per channel or over all channels.

    With ``min_score`` (per channel only) every entry of the full result scoring at least it
    (or NaN) is at the same place; other places score below it, and on the sparse path only the
    columns up to the last such entry are kept.

    Args:
        heat (Tensor): (B, C, H, W) heatmap (any memory format).
        k (int): Entries per row, at most the row length (H * W, or C * H * W).
        kernel (int): Max-pool NMS kernel. Defaults to 3.
        per_channel (bool): Rows are the (B, C) maps when True, the images (channels
            flattened, NCHW order, as mmdet's ``get_topk_from_heatmap``) when False.
        min_score (float, optional): Threshold, > 0 (0 would keep every non-maximum's 0).

    Returns:
        tuple[Tensor]: Scores and int64 indices, (B, C, k) of ``y * W + x`` per channel, or
        (B, k) of ``c * H * W + y * W + x``; exactly ``torch.topk``'s values and order. With
        ``min_score`` on the sparse path: (B, C, k'), k' <= k (above).
    """
    if min_score is not None and not (min_score > 0 and per_channel):
        raise ValueError(f'topk_local_maxima needs min_score > 0 and per_channel, got '
                         f'min_score={min_score}, per_channel={per_channel}')
    batch_size, channels = heat.shape[:2]
    num_rows = batch_size * channels if per_channel else batch_size
    height, width = heat.shape[2:]
    if (kernel != 3 or k == 0 or height < 2 or width < 2 or heat.numel() == 0 or is_tracing()
            or heat.device.type != 'cpu' or not heat.is_floating_point()):
        return dense_topk_local_maxima(heat, k, kernel, per_channel)
    scores, index, exact = _candidate_topk(heat, k, num_rows, min_score)
    if min_score is not None:
        padding = scores == float('-inf')
        scores, index = scores.masked_fill(padding, 0), index.masked_fill(padding, 0)
    inexact = (~exact).nonzero().squeeze(1)
    if inexact.numel():  # those rows: the dense top-K of their plane (per channel) or image
        planes = heat.reshape(-1, 1, height, width)[inexact] if per_channel else heat[inexact]
        redo_scores, redo_index = dense_topk_local_maxima(planes, k, kernel, False)
        scores, index = scores.clone(), index.clone()
        scores[inexact], index[inexact] = redo_scores, redo_index
    if min_score is not None:  # columns up to the last entry kept (>= min_score, or NaN)
        kept = ~(scores < min_score)
        columns = kept.any(0).nonzero()
        k = int(columns[-1]) + 1 if columns.numel() else 0
        scores, index = scores[:, :k], index[:, :k]
    if per_channel:
        return scores.reshape(batch_size, channels, k), index.reshape(batch_size, channels, k)
    return scores, index


def pixel_major(feat: Tensor) -> Tensor:
    """A (B, H * W, C) view of a (B, C, H, W) map in either memory format."""
    return feat.permute(0, 2, 3, 1).flatten(1, 2)


def gather_at_pixels(feat: Tensor, pixel_index: Tensor) -> Tensor:
    """(B, N, C) channels of a (B, C, H, W) map at (B, N) pixels ``y * W + x``."""
    index = pixel_index.unsqueeze(1).expand(-1, feat.shape[1], -1)
    return feat.flatten(2).gather(2, index).transpose(1, 2).contiguous()  # no full-map copy


def sample_heatmap_at(heatmap: Tensor, points: Tensor) -> Tensor:
    """(B, N, J) value of heatmap (B, J, H, W) channel ``j`` at the cell holding point
    (B, N, J, 2) ``(b, n, j)``; 0 off the map."""
    batch_size, num_keypoints, height, width = heatmap.shape
    cells = points.floor()
    inside = (cells[..., 0] >= 0) & (cells[..., 0] < width) & \
             (cells[..., 1] >= 0) & (cells[..., 1] < height)
    xs = cells[..., 0].clamp(0, width - 1).long()
    ys = cells[..., 1].clamp(0, height - 1).long()
    slots = torch.arange(num_keypoints, device=heatmap.device).view(1, 1, -1)
    index = (slots * height + ys) * width + xs  # (B, N, J)
    values = heatmap.reshape(batch_size, -1).gather(1, index.reshape(batch_size, -1))
    return values.reshape(index.shape) * inside


def peak_windows(xs: Tensor, ys: Tensor, radius: int, height: int,
                 width: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The S = ``(2 radius + 1)^2`` pixels around (B, N) integer peaks, row-major (the peak in
    the middle): (B, N, S) ``y * W + x`` clamped onto the map, (B, N, S, 2) float (x, y)
    unclamped, (B, N, S) bool on the map."""
    steps = torch.arange(-radius, radius + 1, device=xs.device)
    dy, dx = (grid.reshape(1, 1, -1) for grid in torch.meshgrid(steps, steps, indexing='ij'))
    window_xs, window_ys = xs.long().unsqueeze(-1) + dx, ys.long().unsqueeze(-1) + dy
    on_map = (window_xs >= 0) & (window_xs < width) & (window_ys >= 0) & (window_ys < height)
    pixel_index = window_ys.clamp(0, height - 1) * width + window_xs.clamp(0, width - 1)
    return pixel_index, torch.stack([window_xs, window_ys], dim=-1).float(), on_map


def window_votes(probs: Tensor, channels: Tensor, windows: Tuple[Tensor, Tensor, Tensor],
                 exclusive: bool = False) -> Tensor:
    """(B, N, S) votes: each window pixel's value of the peak's channel (B, N) of ``probs``
    (B, C, H, W), 0 off the map. ``exclusive``: 0 also where that channel is not the one
    strictly largest (dense targets give a pixel to the nearest landmark); the peak always
    votes."""
    batch_size, num_channels, height, width = probs.shape
    pixel_index, _, on_map = windows
    plane_index = channels.long().unsqueeze(-1) * (height * width) + pixel_index
    voting = probs
    if exclusive and num_channels > 1 and on_map.shape[2] > 1:
        top_two = probs.topk(2, dim=1).values  # (B, 2, H, W)
        voting = probs * ((probs >= top_two[:, :1]) & (top_two[:, :1] > top_two[:, 1:]))
    votes = voting.reshape(batch_size, -1).gather(1, plane_index.reshape(batch_size, -1))
    votes = votes.reshape(plane_index.shape) * on_map
    peak = votes.shape[2] // 2
    votes[:, :, peak] = probs.reshape(batch_size, -1).gather(1, plane_index[:, :, peak])
    return votes


def weighted_vote(values: Tensor, votes: Optional[Tensor]) -> Tensor:
    """(B, N, C) vote-weighted mean of (B, N, S, C) window readings; the peak's own reading
    for one-pixel windows or where nothing votes."""
    peak = values[:, :, values.shape[2] // 2]
    if values.shape[2] == 1:
        return peak
    total = votes.sum(-1, keepdim=True)
    mean = (values * votes.unsqueeze(-1)).sum(2) / total.clamp(min=torch.finfo(votes.dtype).tiny)
    return torch.where(total > 0, mean, peak)
