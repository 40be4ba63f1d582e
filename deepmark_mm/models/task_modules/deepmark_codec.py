# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMark codec: ground truth -> training targets (:meth:`DeepMarkCodec.encode`), the head's maps
-> detections (:meth:`DeepMarkCodec.decode`; CenterNet ``multi_pose``; steps: docs/architecture.md,
"Decoding, top to bottom").

Shapes: B images, C categories, J landmark slots, K decoded garments, M kept ones, P peaks per
slot, (H, W) the feature map; feature pixels until the last step.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData
from torch import Tensor

from deepmark_mm.datasets.deepfashion2_metainfo import NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.datasets.keypoint_metainfo import category_keypoint_mask, resolve_keypoint_slices
from deepmark_mm.ops import batched_nms
from ..utils.ground_truth_maps import DeepMarkTargets, encode_targets
from ..utils.image_frame import network_input_size, to_original_image
from ..utils.peak_topk import (gather_at_pixels, is_tracing, peak_windows, sample_heatmap_at,
                               topk_local_maxima, weighted_vote, window_votes)
from ..utils.shared_channels import (channel_maps_to_slot_maps, channel_representative_slots,
                                     head_channel_table)
from .keypoint_grouping import GROUPERS, parse_grouping

#: Per-class NMS of ``with_nms=True`` when the codec has none.
DEFAULT_NMS = dict(type='nms', iou_threshold=0.5)


class ScoredDetections(NamedTuple):
    """All K decoded garments of a batch after grouping, in feature pixels: ``bboxes`` (B, K, 4)
    xyxy, ``scores`` (B, K) final, ``labels`` (B, K), ``keypoints`` (B, K, J, 2) and
    ``keypoint_scores`` (B, K, J) (0 outside the category), ``center_scores`` (B, K) the centre
    heatmap's."""
    bboxes: Tensor
    scores: Tensor
    labels: Tensor
    keypoints: Tensor
    keypoint_scores: Tensor
    center_scores: Tensor


@TASK_UTILS.register_module()
class DeepMarkCodec(nn.Module):
    """Encodes ground truth into DeepMark targets and decodes the head's maps into detections.

    A module (no state dict) so that its slot tables follow the head's device.

    Args:
        num_classes (int): Categories C. Defaults to DeepFashion2's 13.
        num_keypoints (int): Landmark slots J. Defaults to 294.
        keypoint_slices (Sequence[Sequence[int]], optional): ``[start, end)`` slots per category;
            DeepFashion2's when None.
        kpt_heatmap_channels (optional): Shared landmark heatmap channels (``head_channel_table``
            spec); None: one per slot.
        flip_indices (Sequence[int], optional): Slot flip pairs a shared table must respect.
        regression_radius (int): 0: regressions at integer centres / landmarks (CenterNet);
            ``w > 0``: also in the ``(2w+1)^2`` window, weighted by the Gaussian (TTFNet).
        topk (int): Garments decoded per image. Defaults to 100.
        local_maximum_kernel (int): Max-pool NMS window of both heatmaps. Defaults to 3.
        kpt_topk (int, optional): Peaks per landmark slot; ``topk`` when None.
        max_per_img (int, optional): Detections kept per image; ``topk`` when None.
        vote_radius (int): 0: each garment reads its peak pixel; ``v > 0``: the centre-heatmap
            weighted mean of the readings of its ``(2v+1)^2`` window.
        kpt_vote_radius (int): As ``vote_radius`` for landmark peaks; only pixels where the slot
            is the one strictly largest channel vote.
        keypoint_score_weight (float): ``w`` in [0, 1]: score ``s^(1-w) * m^w`` with ``m`` the
            mean landmark score of the detection's own slots. Defaults to 0 (CenterNet).
        nms (dict, optional): Per-class NMS config (``batched_nms``); None: off.
        grouping (str | dict, optional): ``'nearest'`` (CenterNet, the default) or
            ``'exclusive'``, or ``dict(type=..., score_thr=0.1, distance_ratio=0.3)`` (types
            also ``CenterNetKeypointGrouping`` / ``ExclusiveKeypointGrouping``).
    """

    def __init__(self,
                 num_classes: int = NUM_CLASSES,
                 num_keypoints: int = NUM_KEYPOINTS,
                 keypoint_slices: Optional[Sequence[Sequence[int]]] = None,
                 kpt_heatmap_channels: object = None,
                 flip_indices: Optional[Sequence[int]] = None,
                 regression_radius: int = 0,
                 topk: int = 100,
                 local_maximum_kernel: int = 3,
                 kpt_topk: Optional[int] = None,
                 max_per_img: Optional[int] = None,
                 vote_radius: int = 0,
                 kpt_vote_radius: int = 0,
                 keypoint_score_weight: float = 0.,
                 nms: Optional[dict] = None,
                 grouping: Union[None, str, dict] = None) -> None:
        super().__init__()
        slices = resolve_keypoint_slices(num_classes, num_keypoints, keypoint_slices,
                                         owner='DeepMarkCodec')
        self.register_buffer('category_keypoint_mask', torch.from_numpy(
            category_keypoint_mask(num_keypoints, slices)), persistent=False)
        slot_to_channel, self.num_kpt_channels = head_channel_table(
            kpt_heatmap_channels, num_keypoints, slices, flip_indices)
        self.register_buffer('kpt_slot_to_channel', slot_to_channel, persistent=False)
        self.regression_radius = int(regression_radius)
        self.topk, self.kernel = int(topk), int(local_maximum_kernel)
        self.kpt_topk = self.topk if kpt_topk is None else int(kpt_topk)
        self.max_per_img = self.topk if max_per_img is None else int(max_per_img)
        self.vote_radius, self.kpt_vote_radius = int(vote_radius), int(kpt_vote_radius)
        self.keypoint_score_weight = float(keypoint_score_weight)
        self.nms = nms
        self.grouping, self.score_thr, self.distance_ratio = parse_grouping(grouping)
        for name in ('regression_radius', 'vote_radius', 'kpt_vote_radius'):
            if getattr(self, name) < 0:
                raise ValueError(f'DeepMarkCodec: {name} must be >= 0, got {getattr(self, name)}')
        if not 0 <= self.keypoint_score_weight <= 1:
            raise ValueError(f'DeepMarkCodec: keypoint_score_weight must lie in [0, 1], got '
                             f'{self.keypoint_score_weight}')

    def decode_settings(self) -> Dict[str, Union[int, float]]:
        """The tensor-expressible decoding options (stored in ``--postprocess`` ONNX graphs)."""
        names = ('topk', 'kernel', 'kpt_topk', 'max_per_img', 'vote_radius', 'kpt_vote_radius',
                 'keypoint_score_weight')
        return {name: getattr(self, name) for name in names}

    def grouping_repr(self) -> str:
        """The rule and its settings: ``nearest(score_thr=0.1, distance_ratio=0.3)``."""
        return f'{self.grouping}(score_thr={self.score_thr}, distance_ratio={self.distance_ratio})'

    def encode(self, batch_gt_instances: Sequence[InstanceData], batch_img_metas: List[dict],
               feat_shape: Sequence[int]) -> DeepMarkTargets:
        """Targets of a batch for a (B, C, H, W) ``feat_shape`` (:func:`encode_targets`)."""
        return encode_targets(self, batch_gt_instances, batch_img_metas, feat_shape)

    def prob_maps(self, outputs: Sequence[Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """What :meth:`decode` reads from the head's six per-level output lists: the last level,
        both heatmaps through a sigmoid, shared landmark channels as their per-slot view
        (B, J, H, W) (slot ``j`` reads channel ``kpt_slot_to_channel[j]``)."""
        center, wh, offset, kpt_reg, kpt_heatmap, kpt_offset = (level[-1] for level in outputs)
        kpt_heatmap_probs = kpt_heatmap.sigmoid()
        if self.kpt_slot_to_channel is not None:
            kpt_heatmap_probs = channel_maps_to_slot_maps(kpt_heatmap_probs,
                                                          self.kpt_slot_to_channel)
        return center.sigmoid(), wh, offset, kpt_reg, kpt_heatmap_probs, kpt_offset

    def decode(self, maps: Sequence[Tensor], batch_img_metas: List[dict], rescale: bool = False,
               with_nms: Optional[bool] = None) -> List[InstanceData]:
        """Detections of :meth:`prob_maps`' six maps (heatmaps as probabilities).

        Args:
            maps (Sequence[Tensor]): center heatmap (B, C, H, W), wh (B, 2, H, W), offset
                (B, 2, H, W), kpt_reg (B, 2J, H, W), kpt heatmap (B, J, H, W), kpt_offset.
            batch_img_metas (list[dict]): ``batch_input_shape`` (or ``pad_shape``,
                ``img_shape``); with ``rescale`` ``homography_matrix`` (or ``scale_factor``).
            rescale (bool): Original-image pixels when True, else network-input pixels.
            with_nms (bool, optional): Per-class NMS; None follows ``nms`` (True without it:
                IoU 0.5).

        Returns:
            list[InstanceData]: Per image ``bboxes`` (M, 4), ``scores`` (M,) descending,
            ``labels``, ``keypoints`` (M, J, 2), ``keypoint_scores`` (M, J): the snapped peak's
            score, else the landmark heatmap at the coarse landmark's cell; 0 outside the
            category.
        """
        feat_h, feat_w = maps[0].shape[2:]
        if len(batch_img_metas) != maps[0].shape[0]:
            raise ValueError(f'DeepMarkCodec: {len(batch_img_metas)} img metas for a batch of '
                             f'{maps[0].shape[0]}')
        if with_nms is None:
            with_nms = self.nms is not None
        scored, order, counts = self.decode_rows(maps, (self.nms or DEFAULT_NMS)
                                                 if with_nms else None)
        results = []
        for batch_id, (meta, count) in enumerate(zip(batch_img_metas, counts)):
            rows = order[batch_id, :count]
            input_h, input_w = network_input_size(meta)
            stride = scored.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
            bboxes = scored.bboxes[batch_id, rows] * stride.repeat(2)
            keypoints = scored.keypoints[batch_id, rows] * stride
            labels = scored.labels[batch_id, rows]
            if rescale:
                bboxes, keypoints = self.to_original(bboxes, keypoints, labels, meta)
            results.append(InstanceData(
                bboxes=bboxes, scores=scored.scores[batch_id, rows], labels=labels,
                keypoints=keypoints, keypoint_scores=scored.keypoint_scores[batch_id, rows]))
        return results

    def to_original(self, bboxes: Tensor, keypoints: Tensor, labels: Tensor,
                    meta: dict) -> Tuple[Tensor, Tensor]:
        """(M, 4) boxes and (M, J, 2) keypoints from network-input to original-image pixels,
        keypoints 0 outside each detection's category (M,) ``labels``."""
        bboxes, keypoints = to_original_image(bboxes, keypoints, meta)
        return bboxes, keypoints * self.category_keypoint_mask[labels].unsqueeze(-1)

    def decode_rows(self, maps: Sequence[Tensor], nms_cfg: Optional[dict] = None,
                    kpt_reg_last: Optional[nn.Conv2d] = None
                    ) -> Tuple[ScoredDetections, Tensor, List[int]]:
        """:meth:`decode` before the per-image split (traceable without ``nms_cfg``).

        ``kpt_reg_last``: the ``kpt_reg`` branch's last (C -> 2J) 1x1 convolution; ``maps[3]`` then
        holds that branch's hidden features (B, C, H, W) and the layer runs at the K decoded
        centres only (the self-contained ONNX graph).

        Returns:
            tuple: ScoredDetections (B, K) in feature pixels; (B, M) int64 kept rows by
            descending score (padded past each image's count); per image, the rows kept.
        """
        center, wh, offset, kpt_reg, kpt_heatmap, kpt_offset = maps
        garments = self._garments(center, wh, offset, kpt_reg, kpt_reg_last)
        peak_scores, peaks = self._keypoint_peaks(kpt_heatmap, kpt_offset)
        scores, labels, bboxes, coarse, own = garments
        batch_size, num_decoded = scores.shape
        if nms_cfg is None:  # the first max_per_img, the same for every image
            counts = [min(self.max_per_img, num_decoded)] * batch_size
            keep = torch.arange(counts[0], device=scores.device).expand(batch_size, -1)
            alive = (torch.arange(num_decoded, device=scores.device) < counts[0]).expand(
                batch_size, -1)
        else:
            kept = [batched_nms(b, s.contiguous(), c, nms_cfg)[1][:self.max_per_img]
                    if s.numel() else s.new_zeros(0, dtype=torch.long)
                    for b, s, c in zip(bboxes, scores, labels)]
            counts = [rows.numel() for rows in kept]
            keep = torch.zeros(batch_size, max(counts), dtype=torch.long, device=scores.device)
            alive = torch.zeros_like(scores, dtype=torch.bool)
            for batch_id, rows in enumerate(kept):
                keep[batch_id, :rows.numel()] = rows
                alive[batch_id, rows] = True

        keypoints, snapped, snapped_scores = GROUPERS[self.grouping](
            coarse, own & alive.unsqueeze(-1), bboxes, peaks, peak_scores,
            self.score_thr, self.distance_ratio)
        fallback = sample_heatmap_at(kpt_heatmap, coarse)
        keypoint_scores = torch.where(snapped, snapped_scores, fallback) * own
        final = scores
        if self.keypoint_score_weight:  # weighted geometric mean with the own-slot mean
            weight, own_float = self.keypoint_score_weight, own.to(keypoint_scores.dtype)
            mean_own = (keypoint_scores * own_float).sum(-1) / own_float.sum(-1).clamp(min=1)
            final = scores.pow(1 - weight) * mean_own.pow(weight)

        kept_scores = final.gather(1, keep)
        if nms_cfg is not None:  # padding last
            padding = torch.arange(keep.shape[1], device=keep.device) >= keep.new_tensor(
                counts).unsqueeze(1)
            kept_scores = kept_scores.masked_fill(padding, float('-inf'))
        if torch.onnx.is_in_onnx_export():  # no stable argsort there; ONNX TopK is stable
            ranks = kept_scores.topk(kept_scores.shape[1], dim=1, sorted=True).indices
        else:
            ranks = kept_scores.argsort(dim=1, descending=True, stable=True)
        scored = ScoredDetections(bboxes, final, labels, keypoints * own.unsqueeze(-1),
                                  keypoint_scores, scores)
        return scored, keep.gather(1, ranks), counts

    def _garments(self, center: Tensor, wh: Tensor, offset: Tensor, kpt_reg: Tensor,
                  kpt_reg_last: Optional[nn.Conv2d] = None) -> Tuple[Tensor, ...]:
        """Top-K garments: scores (B, K) descending, labels (B, K), bboxes (B, K, 4), coarse
        landmarks (B, K, J, 2) (integer centre + kpt_reg, 0 outside the category), own slots
        (B, K, J); with ``vote_radius`` the heatmap-weighted means of the window's readings."""
        batch_size, num_classes, height, width = center.shape
        mask = self.category_keypoint_mask
        num_keypoints = mask.shape[1]
        num_reg = kpt_reg.shape[1] if kpt_reg_last is None else kpt_reg_last.out_channels
        if num_reg != 2 * num_keypoints or mask.shape[0] != num_classes:
            raise ValueError(f'kpt_reg has {num_reg} channels and the centre heatmap '
                             f'{num_classes}, but category_keypoint_mask is {tuple(mask.shape)}')
        k = min(self.topk, num_classes * height * width)
        # mmdet's get_topk_from_heatmap: top-K over (B, C*H*W) in NCHW order
        scores, flat_index = topk_local_maxima(center, k, self.kernel, per_channel=False)
        labels = flat_index // (height * width)
        pixel_index = flat_index % (height * width)
        windows = peak_windows(pixel_index % width, pixel_index // width, self.vote_radius,
                               height, width)
        num_window = windows[1].shape[2]
        votes = window_votes(center, labels, windows) if self.vote_radius else None

        def read(feat: Tensor) -> Tensor:  # (B, C', H, W) -> (B, K, S, C')
            return gather_at_pixels(feat, windows[0].reshape(batch_size, -1)).reshape(
                batch_size, k, num_window, -1)

        centers = windows[1] + read(offset)
        bboxes = weighted_vote(bbox_cxcywh_to_xyxy(torch.cat([centers, read(wh)], dim=-1)),
                               votes)
        own = mask.to(labels.device)[labels.long()]  # (B, K, J)
        coarse = read(kpt_reg) if kpt_reg_last is None else nn.functional.linear(
            read(kpt_reg), kpt_reg_last.weight[:, :, 0, 0], kpt_reg_last.bias)
        coarse = coarse.reshape(batch_size, k, num_window, num_keypoints, 2)
        coarse = weighted_vote((coarse + windows[1].unsqueeze(3)).flatten(3), votes)
        coarse = coarse.reshape(batch_size, k, num_keypoints, 2) * own.unsqueeze(-1)
        return scores, labels.long(), bboxes, coarse, own

    def _keypoint_peaks(self, probs: Tensor, kpt_offset: Tensor) -> Tuple[Tensor, Tensor]:
        """Peak scores (B, J, P) descending and peaks (B, J, P, 2) = integer peak + kpt_offset
        (``kpt_vote_radius``: the vote of the window pixels the slot owns). Only the peaks
        scoring at least the grouping's ``score_thr`` are needed (> 0: the others are not
        searched, P is the most any slot has). Shared channels: peaks once per channel, owned
        among the channels, each slot takes its channel's."""
        table = self.kpt_slot_to_channel
        if table is not None:
            table = table.to(probs.device)
            probs = probs.index_select(1, channel_representative_slots(table))
        batch_size, num_maps, height, width = probs.shape
        k = min(self.kpt_topk, height * width)
        min_score = self.score_thr if self.score_thr > 0 and not is_tracing() else None
        scores, pixel_index = topk_local_maxima(probs, k, self.kernel, min_score=min_score)
        if min_score is not None:
            k = scores.shape[-1]
        pixel_index = pixel_index.reshape(batch_size, -1)  # (B, J*P), slot-major
        windows = peak_windows(pixel_index % width,
                               torch.div(pixel_index, width, rounding_mode='floor'),
                               self.kpt_vote_radius, height, width)
        votes = None
        if self.kpt_vote_radius:
            slots = torch.arange(num_maps, device=pixel_index.device).repeat_interleave(k)
            votes = window_votes(probs, slots.expand(batch_size, -1), windows, exclusive=True)
        refine = gather_at_pixels(kpt_offset, windows[0].reshape(batch_size, -1))
        peaks = weighted_vote(windows[1] + refine.reshape(windows[1].shape), votes)
        peaks = peaks.reshape(batch_size, num_maps, k, 2)
        if table is not None:
            return scores.index_select(1, table), peaks.index_select(1, table)
        return scores, peaks
