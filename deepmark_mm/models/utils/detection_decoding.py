# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMark decoding, top to bottom: probability maps -> garments and landmark peaks -> kept
detections -> grouped, scored, ranked detections in image pixels.

:func:`decode_detections` is what ``DeepMarkHead.predict_by_prob_maps`` (and through it the TTA
model and the onnxruntime runner) runs; the exported decoding graph runs the same steps
(:func:`decode_prob_maps`, :func:`score_detections`, :func:`rank_detections`,
:func:`gather_detections`) without NMS. The peak and window arithmetic lives in
:mod:`.deepmark_decode` and :mod:`.peak_topk`, the grouping rules in ``models/task_modules``.

Shapes: B images, K decoded detections, J landmark slots, M kept detections; coordinates in
feature pixels until the last step.
"""
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from deepmark_mm.ops import batched_nms
from .deepmark_decode import (GarmentDetections, LandmarkPeaks, decode_garments,
                              decode_landmark_peaks, landmark_weighted_scores, sample_heatmap_at)
from .img_meta import network_input_size, to_original_image


class DecodeSettings(NamedTuple):
    """The tensor-expressible options of a DeepMark ``test_cfg`` (``test_cfg`` key, default).

    Attributes:
        topk (int): ``topk`` (100): garment detections decoded per image.
        kernel (int): ``local_maximum_kernel`` (3): local-maximum window of both heatmaps.
        kpt_topk (int): ``kpt_topk`` (= topk): heatmap peaks per landmark slot.
        max_per_img (int): ``max_per_img`` (= topk): detections kept per image.
        vote_radius (int): ``vote_radius`` (0: the peak's own box; ``v > 0``: the
            heatmap-weighted vote of its ``(2v+1)^2`` window, see :func:`decode_garments`).
        kpt_vote_radius (int): ``kpt_vote_radius`` (0: each landmark peak's own ``kpt_offset``;
            ``v > 0``: the vote of the window pixels its slot owns, see
            :func:`decode_landmark_peaks`).
        landmark_score_weight (float): ``landmark_score_weight`` (0: the centre heatmap's score,
            as CenterNet; ``w`` in (0, 1]: its weighted geometric mean with the mean
            ``keypoint_scores`` of the detection's own slots, see
            :func:`landmark_weighted_scores`).
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


def decode_detections(maps: Sequence[Tensor],
                      batch_img_metas: List[dict],
                      category_keypoint_mask: Tensor,
                      grouping: Callable,
                      settings: DecodeSettings,
                      nms_cfg: Optional[dict] = None,
                      rescale: bool = False,
                      slot_to_channel: Optional[Tensor] = None) -> List[InstanceData]:
    """Detections of single-level maps whose heatmaps are probabilities.

    CenterNet ``multi_pose_decode``: local maxima and top-K on the centre heatmap, boxes from
    wh / offset, coarse landmarks from kpt_reg (own slots), per-slot heatmap peaks refined by
    kpt_offset; optional per-class NMS; then the grouping rule snaps peaks to the kept
    detections, scores them and ranks them.

    Args:
        maps (Sequence[Tensor]): :func:`decode_inputs`' six maps: center heatmap probabilities
            (B, C, H, W), wh (B, 2, H, W), offset (B, 2, H, W), kpt_reg (B, 2J, H, W), kpt heatmap
            probabilities (B, J, H, W), kpt_offset (B, 2, H, W).
        batch_img_metas (list[dict]): B metas with ``batch_input_shape`` (or ``img_shape``);
            with ``rescale`` also ``homography_matrix`` (or ``scale_factor``).
        category_keypoint_mask (Tensor): (C, J) bool, slots owned by each category.
        grouping (callable): A ``BaseLandmarkGrouping``.
        settings (DecodeSettings): Decoding options.
        nms_cfg (dict, optional): Per-class NMS (``batched_nms`` config); None: off.
        rescale (bool): Original image pixels when True, network-input pixels when False.
        slot_to_channel (Tensor, optional): (J,) table of a head with shared landmark channels
            (see :func:`decode_landmark_peaks`); the kpt heatmap is their per-slot view.

    Returns:
        list[:obj:`InstanceData`]: Per image ``bboxes`` (N, 4) xyxy, ``scores`` (N,),
        ``labels`` (N,), ``keypoints`` (N, J, 2), ``keypoint_scores`` (N, J), sorted by
        descending score; slots outside a detection's category are 0. ``keypoint_scores`` are
        the taken peak's score where a landmark snapped; where it did not, the landmark heatmap
        probability at the feature cell holding the coarse landmark (0 off the map).
    """
    center_heatmap_probs, kpt_heatmap_probs = maps[0], maps[4]
    batch_size, _, feat_h, feat_w = center_heatmap_probs.shape
    if len(batch_img_metas) != batch_size:
        raise ValueError(f'DeepMarkHead: {len(batch_img_metas)} img metas for a batch of '
                         f'{batch_size}')
    garments, peaks = decode_prob_maps(*maps, category_keypoint_mask, settings, slot_to_channel,
                                       getattr(grouping, 'min_peak_score', None))
    keep_order = select_detections(garments, nms_cfg, settings.max_per_img)
    detection_mask = torch.zeros_like(garments.scores, dtype=torch.bool)
    for batch_id, order in enumerate(keep_order):
        detection_mask[batch_id, order] = True
    scored = score_detections(garments, peaks, kpt_heatmap_probs, grouping, detection_mask,
                              settings.landmark_score_weight)

    results = []
    for batch_id, (meta, order) in enumerate(zip(batch_img_metas, keep_order)):
        order = rank_detections(scored.scores[batch_id:batch_id + 1], order.unsqueeze(0))[0]
        input_h, input_w = network_input_size(meta)
        stride = scored.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        bboxes = scored.bboxes[batch_id, order] * stride.repeat(2)
        image_keypoints = scored.keypoints[batch_id, order] * stride
        image_own = scored.keypoint_mask[batch_id, order]
        if rescale:
            bboxes, image_keypoints = to_original_image(bboxes, image_keypoints, meta)
            image_keypoints = image_keypoints * image_own.unsqueeze(-1)
        instances = InstanceData()
        instances.bboxes = bboxes
        instances.scores = scored.scores[batch_id, order]
        instances.labels = scored.labels[batch_id, order]
        instances.keypoints = image_keypoints
        instances.keypoint_scores = scored.keypoint_scores[batch_id, order]
        results.append(instances)
    return results


def decode_prob_maps(center_heatmap_probs: Tensor, wh: Tensor, offset: Tensor, kpt_reg: Tensor,
                     kpt_heatmap_probs: Tensor, kpt_offset: Tensor,
                     category_keypoint_mask: Tensor,
                     settings: DecodeSettings,
                     slot_to_channel: Optional[Tensor] = None,
                     min_peak_score: Optional[float] = None
                     ) -> Tuple[GarmentDetections, LandmarkPeaks]:
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
        slot_to_channel (Tensor, optional): (J,) shared-channel table (per-slot view
            ``kpt_heatmap_probs``), see :func:`decode_landmark_peaks`.
        min_peak_score (float, optional): Landmark peaks scoring below it are not needed (the
            grouping's :attr:`~BaseLandmarkGrouping.min_peak_score`), see
            :func:`decode_landmark_peaks`.

    Returns:
        tuple[GarmentDetections, LandmarkPeaks]: See :func:`decode_garments` and
        :func:`decode_landmark_peaks`.
    """
    garments = decode_garments(center_heatmap_probs, wh, offset, kpt_reg, category_keypoint_mask,
                               settings.topk, settings.kernel, settings.vote_radius)
    peaks = decode_landmark_peaks(kpt_heatmap_probs, kpt_offset, settings.kpt_topk,
                                  settings.kernel, settings.kpt_vote_radius, slot_to_channel,
                                  min_peak_score)
    return garments, peaks


def select_detections(garments: GarmentDetections, nms_cfg: Optional[dict],
                      max_per_img: int) -> List[Tensor]:
    """Per image, indices into the K detections that survive NMS (if any), by descending score,
    at most ``max_per_img``.

    Args:
        garments (GarmentDetections): (B, K) detections, sorted by descending score.
        nms_cfg (dict, optional): Per-class NMS config; None keeps all K.
        max_per_img (int): Detections kept per image.

    Returns:
        list[Tensor]: B int64 index vectors.
    """
    keep_order = []
    for bboxes, scores, labels in zip(garments.bboxes, garments.scores, garments.labels):
        if nms_cfg is not None and scores.numel() > 0:
            _, keep = batched_nms(bboxes, scores.contiguous(), labels, nms_cfg)
        else:
            keep = torch.arange(scores.numel(), device=scores.device)
        keep_order.append(keep[:max_per_img])
    return keep_order


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
