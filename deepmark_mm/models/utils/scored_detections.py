# Copyright (c) deepmark_mm contributors. All rights reserved.
"""From probability maps to scored, grouped, ranked detections: the steps shared by
``DeepMarkHead.predict_by_prob_maps`` and the exported decoding graph.

Shapes: B images, K decoded detections, J landmark slots, M kept detections; coordinates in
feature pixels.
"""
from typing import Callable, NamedTuple, Tuple

import torch
from torch import Tensor

from .deepmark_decode import (GarmentDetections, LandmarkPeaks, decode_garments,
                              decode_landmark_peaks, landmark_weighted_scores, sample_heatmap_at)


class DecodeSettings(NamedTuple):
    """The tensor-expressible options of a DeepMark ``test_cfg`` (see ``DeepMarkHead``).

    Attributes:
        topk (int): Garment detections decoded per image.
        kernel (int): Max-pool NMS kernel of both heatmaps.
        kpt_topk (int): Heatmap peaks per landmark slot.
        max_per_img (int): Detections kept per image.
        vote_radius (int): Window half-size of the garment vote.
        kpt_vote_radius (int): Window half-size of the landmark vote.
        landmark_score_weight (float): Weight of the landmark evidence in the score.
    """
    topk: int = 100
    kernel: int = 3
    kpt_topk: int = 100
    max_per_img: int = 100
    vote_radius: int = 0
    kpt_vote_radius: int = 0
    landmark_score_weight: float = 0.

    @classmethod
    def from_test_cfg(cls, cfg: dict) -> 'DecodeSettings':
        """Read a ``test_cfg`` with the head's defaults (``kpt_topk``, ``max_per_img``: topk)."""
        topk = int(cfg.get('topk', 100))
        return cls(
            topk=topk,
            kernel=int(cfg.get('local_maximum_kernel', 3)),
            kpt_topk=int(cfg.get('kpt_topk', topk)),
            max_per_img=int(cfg.get('max_per_img', topk)),
            vote_radius=int(cfg.get('vote_radius', 0)),
            kpt_vote_radius=int(cfg.get('kpt_vote_radius', 0)),
            landmark_score_weight=float(cfg.get('landmark_score_weight', 0.)))


class ScoredDetections(NamedTuple):
    """Decoded garments with grouped landmarks and final scores, in feature pixels.

    Attributes:
        bboxes (Tensor): (B, K, 4) xyxy.
        scores (Tensor): (B, K) final scores (see :func:`landmark_weighted_scores`).
        labels (Tensor): (B, K) int64 categories.
        keypoints (Tensor): (B, K, J, 2) grouped landmarks, 0 on slots outside the category.
        keypoint_scores (Tensor): (B, K, J) the taken peak's score where a landmark snapped,
            else the landmark heatmap at the coarse landmark's cell; 0 outside the category.
        keypoint_mask (Tensor): (B, K, J) bool, each detection's own slots.
    """
    bboxes: Tensor
    scores: Tensor
    labels: Tensor
    keypoints: Tensor
    keypoint_scores: Tensor
    keypoint_mask: Tensor


def decode_prob_maps(center_heatmap_probs: Tensor, wh: Tensor, offset: Tensor, kpt_reg: Tensor,
                     kpt_heatmap_probs: Tensor, kpt_offset: Tensor,
                     category_keypoint_mask: Tensor,
                     settings: DecodeSettings) -> Tuple[GarmentDetections, LandmarkPeaks]:
    """Garment detections and landmark peaks of single-level maps.

    Args:
        center_heatmap_probs (Tensor): (B, C, H, W) probabilities.
        wh (Tensor): (B, 2, H, W).
        offset (Tensor): (B, 2, H, W).
        kpt_reg (Tensor): (B, 2J, H, W).
        kpt_heatmap_probs (Tensor): (B, J, H, W) probabilities.
        kpt_offset (Tensor): (B, 2, H, W).
        category_keypoint_mask (Tensor): (C, J) bool, slots owned by each category.
        settings (DecodeSettings): Decoding options.

    Returns:
        tuple[GarmentDetections, LandmarkPeaks]: See :func:`decode_garments` and
        :func:`decode_landmark_peaks`.
    """
    garments = decode_garments(center_heatmap_probs, wh, offset, kpt_reg, category_keypoint_mask,
                               settings.topk, settings.kernel, settings.vote_radius)
    peaks = decode_landmark_peaks(kpt_heatmap_probs, kpt_offset, settings.kpt_topk,
                                  settings.kernel, settings.kpt_vote_radius)
    return garments, peaks


def score_detections(garments: GarmentDetections, peaks: LandmarkPeaks, kpt_heatmap_probs: Tensor,
                     grouping: Callable, detection_mask: Tensor,
                     landmark_score_weight: float) -> ScoredDetections:
    """Group the landmark peaks with the detections and score both.

    Args:
        garments (GarmentDetections): (B, K) detections.
        peaks (LandmarkPeaks): (B, J, P) landmark peaks.
        kpt_heatmap_probs (Tensor): (B, J, H, W) probabilities (fallback landmark scores).
        grouping (callable): A ``BaseLandmarkGrouping``.
        detection_mask (Tensor): (B, K) bool, detections that may take peaks.
        landmark_score_weight (float): See :func:`landmark_weighted_scores`.

    Returns:
        ScoredDetections: All K rows, in the order of ``garments``.
    """
    grouped = grouping(garments.coarse_keypoints, garments.keypoint_mask, garments.bboxes,
                       peaks.keypoints, peaks.scores, detection_mask)
    fallback_scores = sample_heatmap_at(kpt_heatmap_probs, garments.coarse_keypoints)
    own = garments.keypoint_mask
    keypoint_scores = torch.where(grouped.snapped, grouped.peak_scores, fallback_scores) * own
    keypoints = grouped.keypoints * own.unsqueeze(-1)
    scores = landmark_weighted_scores(garments.scores, keypoint_scores, own,
                                      landmark_score_weight)
    return ScoredDetections(garments.bboxes, scores, garments.labels, keypoints, keypoint_scores,
                            own)


def rank_detections(scores: Tensor, keep: Tensor) -> Tensor:
    """The kept detections by descending score (ties: the order of ``keep``).

    Args:
        scores (Tensor): (B, K) scores.
        keep (Tensor): (B, M) int64 indices of the kept detections.

    Returns:
        Tensor: (B, M) the indices of ``keep``, reordered.
    """
    kept_scores = scores.gather(1, keep)
    if torch.onnx.is_in_onnx_export():
        # the TorchScript exporter cannot write a stable argsort; ONNX TopK is one (equal values:
        # the lower index first)
        ranks = kept_scores.topk(kept_scores.shape[1], dim=1, sorted=True).indices
    else:
        ranks = kept_scores.argsort(dim=1, descending=True, stable=True)
    return keep.gather(1, ranks)


def gather_detections(detections: ScoredDetections, order: Tensor) -> ScoredDetections:
    """Rows ``order`` of every field.

    Args:
        detections (ScoredDetections): (B, K) rows.
        order (Tensor): (B, M) int64 row indices.

    Returns:
        ScoredDetections: (B, M) rows.
    """

    def rows(field: Tensor) -> Tensor:
        index = order.reshape(order.shape + (1, ) * (field.dim() - 2))
        return field.gather(1, index.expand(order.shape + field.shape[2:]))

    return ScoredDetections(*(rows(field) for field in detections))
