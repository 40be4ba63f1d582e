# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The decoding graph: the six probability maps in, fixed-size detections out.

It runs the head codec's decoding (:meth:`DeepMarkCodec.decode_rows`, what
:meth:`DeepMarkCodec.decode` runs before splitting the batch; ``rescale=False``, no NMS),
batched, and pads every image to ``max_per_img`` rows.
"""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor

#: Outputs of a ``--postprocess`` graph, in order (network-input pixels; K = ``max_per_img``).
POSTPROCESS_OUTPUT_NAMES: Tuple[str, ...] = (
    'bboxes',  # (B, K, 4) float32 xyxy
    'scores',  # (B, K) float32, descending; 0 on padding rows
    'labels',  # (B, K) int64 category; -1 on padding rows
    'keypoints',  # (B, K, J, 2) float32 (x, y); 0 on slots outside the category and padding rows
    'keypoint_scores',  # (B, K, J) float32; 0 outside the category and on padding rows
)


def check_postprocess_codec(codec: nn.Module, where: str) -> None:
    """Refuse the decoding options the graph cannot run.

    Args:
        codec (DeepMarkCodec): The head's codec.
        where (str): Config name for messages.

    Raises:
        ValueError: For ``nms`` (per-image variable-length suppression) or the ``'exclusive'``
            grouping (it iterates a data-dependent number of rounds).
    """
    if codec.nms is not None:
        raise ValueError(
            f'{where}: test_cfg.nms={codec.nms!r} cannot run inside the ONNX graph; export '
            'without --postprocess (decode with OnnxDeepMark) or set model.test_cfg.nms=None')
    if codec.grouping != 'nearest':
        raise ValueError(f'{where}: only the default nearest (CenterNetLandmarkGrouping) rule '
                         f'runs inside the ONNX graph, the config uses '
                         f'{codec.grouping_repr()}; export without --postprocess')


class DeepMarkPostprocess(nn.Module):
    """Decoding + default landmark grouping of a DeepMark head, as a traceable module.

    Rows are ranked by descending score. Padding rows -- beyond the ``topk`` decoded detections,
    or decoded at a centre-heatmap score of 0 (fewer local maxima than ``topk``) -- get score 0,
    label -1 and zero boxes, landmarks and landmark scores. Real rows equal the head's
    ``predict_by_feat(..., rescale=False)`` rows.

    Args:
        head (nn.Module): A ``DeepMarkHead`` (its codec).
        input_hw (tuple[int, int]): Network input ``(H, W)``; maps are ``(H / s, W / s)``.
        where (str): Config name for messages.
    """

    def __init__(self, head: nn.Module, input_hw: Tuple[int, int], where: str = 'the model'):
        super().__init__()
        check_postprocess_codec(head.codec, where)
        self.codec = head.codec
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
        feat_h, feat_w = center_heatmap_probs.shape[2:]
        scored, order, _ = self.codec.decode_rows(
            (center_heatmap_probs, wh, offset, kpt_reg, kpt_heatmap_probs, kpt_offset))
        ranked = type(scored)(*(_rows(field, order) for field in scored))
        input_h, input_w = self.input_hw
        stride = ranked.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        real = ranked.scores > 0  # (B, M)
        real_float = real.to(ranked.scores.dtype)
        outputs = (
            ranked.bboxes * stride.repeat(2) * real_float.unsqueeze(-1),
            ranked.scores * real_float,
            torch.where(real, ranked.labels, torch.full_like(ranked.labels, -1)),
            ranked.keypoints * stride * real_float[..., None, None],
            ranked.keypoint_scores * real_float.unsqueeze(-1),
        )
        missing = self.codec.max_per_img - order.shape[1]
        if missing > 0:
            outputs = tuple(_pad_rows(value, missing, -1 if index == 2 else 0)
                            for index, value in enumerate(outputs))
        return outputs


def _rows(field: Tensor, order: Tensor) -> Tensor:
    """Rows ``order`` (B, M) of a (B, K, ...) field."""
    index = order.reshape(order.shape + (1, ) * (field.dim() - 2))
    return field.gather(1, index.expand(order.shape + field.shape[2:]))


def _pad_rows(value: Tensor, missing: int, fill: float) -> Tensor:
    """Append ``missing`` rows of ``fill`` along dim 1."""
    shape = (value.shape[0], missing) + tuple(value.shape[2:])
    return torch.cat([value, value.new_full(shape, fill)], dim=1)
