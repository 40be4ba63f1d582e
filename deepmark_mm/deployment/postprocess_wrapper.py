# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The decoding graph: the six probability maps in, fixed-size detections out.

It runs the steps of ``DeepMarkHead.predict_by_prob_maps`` (``rescale=False``, no NMS) through
the same functions (:mod:`deepmark_mm.models.utils.detection_decoding`), batched, and pads every
image to ``max_per_img`` rows.
"""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor

from deepmark_mm.models.task_modules import CenterNetLandmarkGrouping
from deepmark_mm.models.utils import (DecodeSettings, decode_prob_maps, gather_detections,
                                      rank_detections, score_detections)

#: Outputs of a ``--postprocess`` graph, in order (network-input pixels; K = ``max_per_img``).
POSTPROCESS_OUTPUT_NAMES: Tuple[str, ...] = (
    'bboxes',  # (B, K, 4) float32 xyxy
    'scores',  # (B, K) float32, descending; 0 on padding rows
    'labels',  # (B, K) int64 category; -1 on padding rows
    'keypoints',  # (B, K, J, 2) float32 (x, y); 0 on slots outside the category and padding rows
    'keypoint_scores',  # (B, K, J) float32; 0 outside the category and on padding rows
)

#: ``test_cfg`` keys the graph cannot express (value must be None / absent).
UNSUPPORTED_TEST_CFG = ('nms', )


def check_postprocess_test_cfg(test_cfg: dict, grouping: object, where: str) -> DecodeSettings:
    """The decoding settings of ``test_cfg``, refusing what the graph cannot run.

    Args:
        test_cfg (dict): The head's ``test_cfg``.
        grouping (object): The head's grouping rule.
        where (str): Config name for messages.

    Returns:
        DecodeSettings: The settings.

    Raises:
        ValueError: For ``test_cfg.nms`` (per-image variable-length suppression) or a grouping
            rule other than ``CenterNetLandmarkGrouping`` (the exclusive rule iterates a
            data-dependent number of rounds).
    """
    for key in UNSUPPORTED_TEST_CFG:
        if test_cfg.get(key, None) is not None:
            raise ValueError(
                f'{where}: test_cfg.{key}={test_cfg[key]!r} cannot run inside the ONNX graph; '
                f'export without --postprocess (decode with OnnxDeepMark) or set '
                f'model.test_cfg.{key}=None')
    if type(grouping) is not CenterNetLandmarkGrouping:
        raise ValueError(f'{where}: only the default CenterNetLandmarkGrouping runs inside the '
                         f'ONNX graph, the config uses {grouping!r}; export without --postprocess')
    return DecodeSettings.from_test_cfg(test_cfg)


class DeepMarkPostprocess(nn.Module):
    """Decoding + default landmark grouping of a DeepMark head, as a traceable module.

    Rows are ranked by descending score. Padding rows -- beyond the ``topk`` decoded detections,
    or decoded at a centre-heatmap score of 0 (fewer local maxima than ``topk``) -- get score 0,
    label -1 and zero boxes, landmarks and landmark scores. Real rows equal the head's
    ``predict_by_prob_maps(..., rescale=False)`` rows.

    Args:
        head (nn.Module): A ``DeepMarkHead`` (its ``test_cfg``, grouping and category slots).
        input_hw (tuple[int, int]): Network input ``(H, W)``; maps are ``(H / s, W / s)``.
        where (str): Config name for messages.
    """

    def __init__(self, head: nn.Module, input_hw: Tuple[int, int], where: str = 'the model'):
        super().__init__()
        self.settings = check_postprocess_test_cfg(head.test_cfg, head.grouping, where)
        self.grouping = head.grouping
        self.register_buffer('category_keypoint_mask', head.category_keypoint_mask.clone(),
                             persistent=False)
        slot_to_channel = getattr(head, 'kpt_slot_to_channel', None)
        self.register_buffer('kpt_slot_to_channel',
                             None if slot_to_channel is None else slot_to_channel.clone(),
                             persistent=False)
        self.input_hw = tuple(int(v) for v in input_hw)

    def forward(self, center_heatmap_probs: Tensor, wh: Tensor, offset: Tensor, kpt_reg: Tensor,
                kpt_heatmap_probs: Tensor, kpt_offset: Tensor) -> Tuple[Tensor, ...]:
        """Decode.

        Args:
            center_heatmap_probs (Tensor): (B, C, Hf, Wf) probabilities.
            wh (Tensor): (B, 2, Hf, Wf).
            offset (Tensor): (B, 2, Hf, Wf).
            kpt_reg (Tensor): (B, 2J, Hf, Wf).
            kpt_heatmap_probs (Tensor): (B, J, Hf, Wf) probabilities.
            kpt_offset (Tensor): (B, 2, Hf, Wf).

        Returns:
            tuple[Tensor]: :data:`POSTPROCESS_OUTPUT_NAMES`.
        """
        settings = self.settings
        feat_h, feat_w = center_heatmap_probs.shape[2:]
        garments, peaks = decode_prob_maps(center_heatmap_probs, wh, offset, kpt_reg,
                                           kpt_heatmap_probs, kpt_offset,
                                           self.category_keypoint_mask, settings,
                                           self.kpt_slot_to_channel)
        num_decoded = garments.scores.shape[1]
        num_kept = min(settings.max_per_img, num_decoded)
        keep = torch.arange(num_kept, device=wh.device).unsqueeze(0).expand(
            garments.scores.shape[0], -1)
        detection_mask = torch.arange(num_decoded, device=wh.device) < num_kept
        scored = score_detections(garments, peaks, kpt_heatmap_probs, self.grouping,
                                  detection_mask.unsqueeze(0).expand_as(garments.scores),
                                  settings.landmark_score_weight)
        order = rank_detections(scored.scores, keep)
        ranked = gather_detections(scored, order)
        input_h, input_w = self.input_hw
        stride = ranked.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        real = garments.scores.gather(1, order) > 0  # (B, M)
        real_float = real.to(ranked.scores.dtype)
        outputs = (
            ranked.bboxes * stride.repeat(2) * real_float.unsqueeze(-1),
            ranked.scores * real_float,
            torch.where(real, ranked.labels, torch.full_like(ranked.labels, -1)),
            ranked.keypoints * stride * real_float[..., None, None],
            ranked.keypoint_scores * real_float.unsqueeze(-1),
        )
        missing = settings.max_per_img - num_kept
        if missing > 0:
            outputs = tuple(_pad_rows(value, missing, -1 if index == 2 else 0)
                            for index, value in enumerate(outputs))
        return outputs


def _pad_rows(value: Tensor, missing: int, fill: float) -> Tensor:
    """Append ``missing`` rows of ``fill`` along dim 1."""
    shape = (value.shape[0], missing) + tuple(value.shape[2:])
    return torch.cat([value, value.new_full(shape, fill)], dim=1)
