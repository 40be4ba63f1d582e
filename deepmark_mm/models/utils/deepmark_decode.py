# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Decoding of DeepMark head outputs (CenterNet ``multi_pose_decode``), all in feature pixels."""
from typing import NamedTuple, Optional

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from torch import Tensor

from .peak_topk import topk_local_maxima, topk_local_maxima_above
from .shared_channels import channel_representative_slots


class GarmentDetections(NamedTuple):
    """Top-K garment detections of a batch, in feature pixels.

    Attributes:
        scores (Tensor): (B, K) centre-heatmap probability, descending per image.
        labels (Tensor): (B, K) int64 category.
        bboxes (Tensor): (B, K, 4) xyxy, refined centre +- wh / 2.
        coarse_keypoints (Tensor): (B, K, J, 2) integer centre + kpt_reg on the detection's own
            slots, 0 elsewhere.
        keypoint_mask (Tensor): (B, K, J) bool, the detection's own slots.
    """
    scores: Tensor
    labels: Tensor
    bboxes: Tensor
    coarse_keypoints: Tensor
    keypoint_mask: Tensor


class LandmarkPeaks(NamedTuple):
    """Top-P local maxima of every landmark heatmap, in feature pixels.

    Attributes:
        scores (Tensor): (B, J, P) heatmap probability of each peak, descending per slot.
        keypoints (Tensor): (B, J, P, 2) integer peak position + kpt_offset there.
    """
    scores: Tensor
    keypoints: Tensor


def pixel_major(feat: Tensor) -> Tensor:
    """A (B, H * W, C) view of a (B, C, H, W) map: one row of channels per pixel.

    A view in both memory formats, where ``feat.reshape(B, C, -1)`` copies a channels-last map.
    """
    return feat.permute(0, 2, 3, 1).flatten(1, 2)


def gather_at_pixels(feat: Tensor, pixel_index: Tensor) -> Tensor:
    """Read all channels of a map at given pixels.

    Args:
        feat (Tensor): (B, C, H, W) map, any memory format.
        pixel_index (Tensor): (B, N) int64 ``y * W + x``.

    Returns:
        Tensor: (B, N, C).
    """
    index = pixel_index.unsqueeze(-1).expand(-1, -1, feat.shape[1])
    return pixel_major(feat).gather(1, index)


class PeakWindows(NamedTuple):
    """The ``(2v+1)^2`` pixels around each of N peaks per image (S = ``(2v+1)^2``).

    Attributes:
        pixel_index (Tensor): (B, N, S) int64 ``y * W + x``, clamped onto the map.
        pixels (Tensor): (B, N, S, 2) float (x, y) of each window pixel, unclamped.
        on_map (Tensor): (B, N, S) bool, the pixel lies on the map.
    """
    pixel_index: Tensor
    pixels: Tensor
    on_map: Tensor


def peak_windows(xs: Tensor, ys: Tensor, radius: int, height: int, width: int) -> PeakWindows:
    """Window pixels around integer peaks, row-major from the top-left (the peak is in the
    middle).

    Args:
        xs (Tensor): (B, N) peak columns (any dtype holding integers).
        ys (Tensor): (B, N) peak rows.
        radius (int): Window half-size ``v >= 0``; 0 gives the peak alone.
        height (int): Map height H.
        width (int): Map width W.

    Returns:
        PeakWindows: S = ``(2 * radius + 1) ** 2`` pixels per peak.
    """
    if radius < 0:
        raise ValueError(f'vote_radius must be >= 0, got {radius}')
    steps = torch.arange(-radius, radius + 1, device=xs.device)
    dy, dx = (grid.reshape(1, 1, -1) for grid in torch.meshgrid(steps, steps, indexing='ij'))
    window_xs, window_ys = xs.long().unsqueeze(-1) + dx, ys.long().unsqueeze(-1) + dy
    on_map = (window_xs >= 0) & (window_xs < width) & (window_ys >= 0) & (window_ys < height)
    pixel_index = window_ys.clamp(0, height - 1) * width + window_xs.clamp(0, width - 1)
    return PeakWindows(pixel_index, torch.stack([window_xs, window_ys], dim=-1).float(), on_map)


def window_votes(probs: Tensor, channels: Tensor, windows: PeakWindows,
                 exclusive: bool = False) -> Tensor:
    """Vote of each window pixel: the peak's own heatmap channel there.

    Dense regression targets give a pixel to the peak whose Gaussian is largest there, over all
    the peaks that share the regression map (:func:`gaussian_window_pixels`): a pixel nearer
    another landmark regresses that landmark, and one where two Gaussians tie regresses both (a
    conflict). With ``exclusive``, a window pixel therefore votes only where the peak's channel
    is the one strictly largest channel; the peak's own pixel always votes. Landmark slots need
    it (each is a different point: landmark mAP 0.646 -> 0.673 on the demo model); garment
    categories do not (a second category peaking beside a garment is mostly the same garment
    under another label, and its pixels still read this garment's box: box mAP 0.807 without,
    0.805 with).

    Args:
        probs (Tensor): (B, C, H, W) heatmap probabilities.
        channels (Tensor): (B, N) channel of each peak (its category or landmark slot).
        windows (PeakWindows): The peaks' windows.
        exclusive (bool): Only pixels the peak's channel owns vote. Defaults to False.

    Returns:
        Tensor: (B, N, S) unnormalised weights, 0 for pixels off the map (and, with
        ``exclusive``, for pixels another channel owns).
    """
    batch_size, num_channels, height, width = probs.shape
    plane_index = channels.long().unsqueeze(-1) * (height * width) + windows.pixel_index
    voting = probs
    # a one-pixel window is the peak alone, which always votes: no ownership map needed
    if exclusive and num_channels > 1 and windows.on_map.shape[2] > 1:
        top_two = probs.topk(2, dim=1).values  # (B, 2, H, W)
        voting = probs * ((probs >= top_two[:, :1]) & (top_two[:, :1] > top_two[:, 1:]))
    votes = voting.reshape(batch_size, -1).gather(1, plane_index.reshape(batch_size, -1))
    votes = votes.reshape(plane_index.shape) * windows.on_map
    peak = votes.shape[2] // 2
    votes[:, :, peak] = probs.reshape(batch_size, -1).gather(1, plane_index[:, :, peak])
    return votes


def weighted_vote(values: Tensor, votes: Optional[Tensor]) -> Tensor:
    """Vote-weighted mean over each window, the peak's own reading where no pixel votes.

    Args:
        values (Tensor): (B, N, S, C) readings of the window pixels (the peak in the middle).
        votes (Tensor, optional): (B, N, S) non-negative weights; unused (may be None) for
            one-pixel windows (S = 1), which return the peak's reading.

    Returns:
        Tensor: (B, N, C).
    """
    peak = values[:, :, values.shape[2] // 2]
    if values.shape[2] == 1:
        return peak
    total = votes.sum(-1, keepdim=True)
    mean = (values * votes.unsqueeze(-1)).sum(2) / total.clamp(min=torch.finfo(votes.dtype).tiny)
    return torch.where(total > 0, mean, peak)


def decode_garments(center_heatmap_probs: Tensor,
                    wh: Tensor,
                    offset: Tensor,
                    kpt_reg: Tensor,
                    category_keypoint_mask: Tensor,
                    k: int = 100,
                    kernel: int = 3,
                    vote_radius: int = 0) -> GarmentDetections:
    """Garment boxes and coarse landmarks from the centre branch (CenterNet multi_pose rule).

    ``kernel x kernel`` max-pool NMS on the centre heatmap, top-K over classes and positions,
    box = (integer centre + offset) +- wh / 2, coarse landmark ``j`` = integer centre +
    ``kpt_reg[2j:2j+2]`` for the detection's own slots.

    With ``vote_radius = v > 0`` (for models trained with dense regression, whose pixels near a
    centre all regress its box: ``regression_radius >= v``), every pixel ``p`` of the
    ``(2v+1)^2`` window around the peak reads its own box ``(p + offset) +- wh / 2`` and coarse
    landmarks ``p + kpt_reg``, and the detection takes their average weighted by the centre
    heatmap of its category at ``p`` (the peak weighs most); pixels off the map weigh 0.

    Args:
        center_heatmap_probs (Tensor): (B, C, H, W) probabilities (any memory format, as all
            maps here).
        wh (Tensor): (B, 2, H, W).
        offset (Tensor): (B, 2, H, W).
        kpt_reg (Tensor): (B, 2J, H, W).
        category_keypoint_mask (Tensor): (C, J) bool, slots owned by each category.
        k (int): Detections per image (clipped to ``C * H * W``). Defaults to 100.
        kernel (int): Max-pool NMS kernel. Defaults to 3.
        vote_radius (int): Window half-size of the heatmap-weighted vote; 0 (the default)
            reads the peak pixel alone, as CenterNet.

    Returns:
        GarmentDetections: K = ``min(k, C * H * W)`` detections per image.
    """
    batch_size, num_classes, height, width = center_heatmap_probs.shape
    num_keypoints = category_keypoint_mask.shape[1]
    if kpt_reg.shape[1] != 2 * num_keypoints or category_keypoint_mask.shape[0] != num_classes:
        raise ValueError(
            f'kpt_reg has {kpt_reg.shape[1]} channels and the centre heatmap {num_classes}, but '
            f'category_keypoint_mask is {tuple(category_keypoint_mask.shape)}')
    k = min(k, num_classes * height * width)
    # mmdet's get_topk_from_heatmap: top-K over (B, C*H*W) in NCHW order, whatever layout the
    # head ran in
    scores, flat_index = topk_local_maxima(center_heatmap_probs, k, kernel, per_channel=False)
    labels = flat_index // (height * width)
    pixel_index = flat_index % (height * width)
    ys, xs = pixel_index // width, pixel_index % width
    # every window pixel (S of them) reads its own box and coarse landmarks, and votes with the
    # heatmap of the detection's own category there
    windows = peak_windows(xs, ys, vote_radius, height, width)
    num_window = windows.pixels.shape[2]
    votes = window_votes(center_heatmap_probs, labels, windows) if vote_radius else None

    def read(feat: Tensor) -> Tensor:  # (B, C, H, W) -> (B, K, S, C)
        return gather_at_pixels(feat, windows.pixel_index.reshape(batch_size, -1)).reshape(
            batch_size, k, num_window, -1)

    centers = windows.pixels + read(offset)
    bboxes = weighted_vote(bbox_cxcywh_to_xyxy(torch.cat([centers, read(wh)], dim=-1)), votes)

    keypoint_mask = category_keypoint_mask.to(labels.device)[labels.long()]  # (B, K, J)
    coarse = read(kpt_reg).reshape(batch_size, k, num_window, num_keypoints, 2)
    coarse = weighted_vote((coarse + windows.pixels.unsqueeze(3)).flatten(3), votes)
    coarse = coarse.reshape(batch_size, k, num_keypoints, 2) * keypoint_mask.unsqueeze(-1)
    return GarmentDetections(scores, labels.long(), bboxes, coarse, keypoint_mask)


def decode_landmark_peaks(kpt_heatmap_probs: Tensor,
                          kpt_offset: Tensor,
                          k: int = 100,
                          kernel: int = 3,
                          vote_radius: int = 0,
                          slot_to_channel: Optional[Tensor] = None,
                          min_score: Optional[float] = None) -> LandmarkPeaks:
    """Per-slot heatmap peaks refined by the shared landmark offset.

    With ``vote_radius = v > 0`` (for models whose ``kpt_offset`` is supervised around each
    landmark: ``regression_radius >= v``), every pixel ``p`` of the ``(2v+1)^2`` window around a
    peak reads its own landmark ``p + kpt_offset(p)``, and the peak takes their average weighted
    by its slot's heatmap at ``p``. Only pixels where the slot's heatmap is the one strictly
    largest vote (:func:`window_votes` with ``exclusive``: the targets give a pixel to the
    nearest landmark), and pixels off the map weigh 0.

    Args:
        kpt_heatmap_probs (Tensor): (B, J, H, W) probabilities.
        kpt_offset (Tensor): (B, 2, H, W).
        k (int): Peaks per slot (clipped to ``H * W``). Defaults to 100.
        kernel (int): Max-pool NMS kernel. Defaults to 3.
        vote_radius (int): Window half-size of the heatmap-weighted vote; 0 (the default)
            reads the peak pixel alone, as CenterNet.
        slot_to_channel (Tensor, optional): (J,) int64 table of a head with shared landmark
            channels, ``kpt_heatmap_probs`` being their per-slot view. The peaks are then found
            once per channel, a pixel's owner is the one strictly largest of the G channels
            (slots of one channel do not compete), and each slot takes its channel's peaks.
        min_score (float, optional): For consumers that ignore peaks scoring below it (> 0, a
            grouping's ``score_thr``): only the peaks scoring at least it are found, and P is
            the most any slot has (:func:`topk_local_maxima_above`); the other entries score
            below it. None: the top ``k`` of every slot.

    Returns:
        LandmarkPeaks: P = ``min(k, H * W)`` peaks per slot (at most that with ``min_score``).
    """
    if slot_to_channel is not None:
        slot_to_channel = slot_to_channel.to(kpt_heatmap_probs.device)
        channels = kpt_heatmap_probs.index_select(
            1, channel_representative_slots(slot_to_channel))
        peaks = decode_landmark_peaks(channels, kpt_offset, k, kernel, vote_radius,
                                      min_score=min_score)
        return LandmarkPeaks(peaks.scores.index_select(1, slot_to_channel),
                             peaks.keypoints.index_select(1, slot_to_channel))
    batch_size, num_keypoints, height, width = kpt_heatmap_probs.shape
    k = min(k, height * width)
    if min_score is None:
        scores, pixel_index = topk_local_maxima(kpt_heatmap_probs, k, kernel, per_channel=True)
    else:
        scores, pixel_index = topk_local_maxima_above(kpt_heatmap_probs, k, min_score, kernel)
        k = scores.shape[-1]
    pixel_index = pixel_index.reshape(batch_size, -1)  # (B, J*P), slot-major
    windows = peak_windows(pixel_index % width,
                           torch.div(pixel_index, width, rounding_mode='floor'), vote_radius,
                           height, width)
    slots = torch.arange(num_keypoints, device=pixel_index.device).repeat_interleave(k)
    votes = window_votes(kpt_heatmap_probs, slots.expand(batch_size, -1), windows,
                         exclusive=True) if vote_radius else None
    refine = gather_at_pixels(kpt_offset, windows.pixel_index.reshape(batch_size, -1))
    keypoints = weighted_vote(windows.pixels + refine.reshape(windows.pixels.shape), votes)
    return LandmarkPeaks(scores, keypoints.reshape(batch_size, num_keypoints, k, 2))


def sample_heatmap_at(heatmap: Tensor, points: Tensor) -> Tensor:
    """Heatmap value at the feature cell containing each point, 0 for points off the map.

    Args:
        heatmap (Tensor): (B, J, H, W).
        points (Tensor): (B, N, J, 2) (x, y) in feature pixels; point ``(b, n, j)`` reads
            channel ``j``.

    Returns:
        Tensor: (B, N, J).
    """
    batch_size, num_keypoints, height, width = heatmap.shape
    cells = points.floor()
    inside = (cells[..., 0] >= 0) & (cells[..., 0] < width) & \
             (cells[..., 1] >= 0) & (cells[..., 1] < height)
    xs = cells[..., 0].clamp(0, width - 1).long()
    ys = cells[..., 1].clamp(0, height - 1).long()
    slots = torch.arange(num_keypoints, device=heatmap.device).view(1, 1, -1)
    flat = heatmap.reshape(batch_size, -1)
    index = (slots * height + ys) * width + xs  # (B, N, J)
    values = flat.gather(1, index.reshape(batch_size, -1)).reshape(index.shape)
    return values * inside


def landmark_weighted_scores(scores: Tensor, keypoint_scores: Tensor, keypoint_mask: Tensor,
                             weight: float) -> Tensor:
    """Garment scores that also weigh the evidence of the category's own landmark heatmaps.

    Each category owns its landmark slots, so the landmark heatmaps are a second opinion on a
    detection's category: a garment detected under a wrong label finds little heatmap response
    at the landmarks of that label's slots. The score becomes the weighted geometric mean
    ``score ** (1 - weight) * mean_own_keypoint_score ** weight``.

    Args:
        scores (Tensor): (B, K) centre-heatmap scores.
        keypoint_scores (Tensor): (B, K, J) landmark scores in [0, 1] (see
            :meth:`DeepMarkHead.predict_by_prob_maps`).
        keypoint_mask (Tensor): (B, K, J) bool, each detection's own slots.
        weight (float): In [0, 1]; 0 returns ``scores``.

    Returns:
        Tensor: (B, K) scores.
    """
    if not 0 <= weight <= 1:
        raise ValueError(f'landmark score weight must lie in [0, 1], got {weight}')
    if weight == 0:
        return scores
    own = keypoint_mask.to(keypoint_scores.dtype)
    mean_own = (keypoint_scores * own).sum(-1) / own.sum(-1).clamp(min=1)
    return scores.pow(1 - weight) * mean_own.pow(weight)
