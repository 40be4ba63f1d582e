# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The traced modules: the network (image -> six maps) and the decoding (maps -> detections)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

#: Graph input: (B, 3, H, W) float32, BGR, normalised and padded by the config's preprocessor.
INPUT_NAME = 'input'

#: Network outputs, in order; shapes at stride 4 of the input (``Hf = H / 4``).
OUTPUT_NAMES: Tuple[str, ...] = (
    'center_heatmap',  # (B, 13, Hf, Wf) sigmoid probabilities
    'wh',  # (B, 2, Hf, Wf) box width, height in feature pixels
    'offset',  # (B, 2, Hf, Wf) sub-pixel centre offset
    'kpt_reg',  # (B, 588, Hf, Wf) landmark j at channels (2j, 2j + 1) from the integer centre
    'kpt_heatmap',  # (B, 294, Hf, Wf) sigmoid probabilities, per slot (also for shared channels)
    'kpt_offset',  # (B, 2, Hf, Wf) sub-pixel landmark offset
)

#: Outputs of a ``--postprocess`` graph, in order (network-input pixels; K = ``max_per_img``).
POSTPROCESS_OUTPUT_NAMES: Tuple[str, ...] = (
    'bboxes',  # (B, K, 4) float32 xyxy
    'scores',  # (B, K) float32, descending; 0 on padding rows
    'labels',  # (B, K) int64 category; -1 on padding rows
    'keypoints',  # (B, K, J, 2) float32 (x, y); 0 on slots outside the category and padding rows
    'keypoint_scores',  # (B, K, J) float32; 0 outside the category and on padding rows
)


#: The network part of a self-contained graph without flip: ``kpt_reg`` is replaced by the
#: ``kpt_reg`` branch's hidden features (B, C, Hf, Wf); its last 1x1 convolution runs in the
#: decoding, at the decoded centres only.
KPT_REG_FEATURES_NAMES: Tuple[str, ...] = OUTPUT_NAMES[:3] + ('kpt_reg_features', ) + \
    OUTPUT_NAMES[4:]


def kpt_reg_last_conv(head: nn.Module) -> Optional[nn.Conv2d]:
    """The ``kpt_reg`` branch's last layer (last level) when it is a plain 1x1 convolution, the
    layer a self-contained graph runs at the decoded centres; None otherwise."""
    try:
        layer = head.kpt_reg_head[-1][-1]
    except (AttributeError, IndexError, TypeError):
        return None
    plain = isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1) and \
        layer.stride == (1, 1) and layer.padding == (0, 0) and layer.groups == 1 and \
        layer.bias is not None
    return layer if plain else None


class DeepMarkExportWrapper(nn.Module):
    """Backbone + neck + head, last level, as the head codec's ``prob_maps`` (what it decodes).

    Args:
        detector (nn.Module): A single-stage detector with a ``DeepMarkHead``.
        flip (bool): Run on ``[x, flip(x)]`` (2B maps out) for flip fusion. Defaults to False.
        kpt_reg_features (bool): Output :data:`KPT_REG_FEATURES_NAMES` (the hidden features of
            the ``kpt_reg`` branch in place of its 2J maps). Defaults to False.
    """

    def __init__(self, detector: nn.Module, flip: bool = False,
                 kpt_reg_features: bool = False) -> None:
        super().__init__()
        for attribute in ('extract_feat', 'bbox_head'):
            if not hasattr(detector, attribute):
                raise TypeError(f'{type(detector).__name__} has no {attribute}; export needs a '
                                'single-stage detector with a DeepMarkHead')
        self.detector = detector
        self.flip = bool(flip)
        self.kpt_reg_features = bool(kpt_reg_features)
        if self.kpt_reg_features and kpt_reg_last_conv(detector.bbox_head) is None:
            raise ValueError('kpt_reg_features needs a kpt_reg branch that ends in a plain 1x1 '
                             'convolution with a bias')

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) normalised images -> the maps of :data:`OUTPUT_NAMES` (2B with flip)."""
        if self.flip:
            inputs = torch.cat([inputs, inputs.flip(dims=[3])])
        head = self.detector.bbox_head
        if not self.kpt_reg_features:
            return head.codec.prob_maps(head(self.detector.extract_feat(inputs)))
        hidden = []  # the input of the branch's last convolution, caught in one head pass
        hook = kpt_reg_last_conv(head).register_forward_pre_hook(
            lambda module, args: hidden.append(args[0]))
        try:
            maps = head.codec.prob_maps(head(self.detector.extract_feat(inputs)))
        finally:
            hook.remove()
        return maps[:3] + (hidden[0], ) + maps[4:]


class DeepMarkPostprocess(nn.Module):
    """The codec's decoding and default grouping (``decode_rows``, ``rescale=False``, no NMS).

    Rows are ranked by descending score; padding rows (beyond ``topk``, or decoded at a
    centre-heatmap score of 0) get score 0, label -1 and zeros. Real rows equal
    ``predict_by_feat(..., rescale=False)``.

    Args:
        head (nn.Module): A ``DeepMarkHead`` (its codec).
        input_hw (tuple[int, int]): Network input ``(H, W)``.
        where (str): Config name for messages.
        flip_indices (Tensor, optional): (J,) slot permutation: fuse the maps of ``[x, flip(x)]``
            (2B images) with ``fuse_flip_outputs`` first.
        kpt_reg_features (bool): The maps are :data:`KPT_REG_FEATURES_NAMES`; the ``kpt_reg``
            branch's last convolution runs at the decoded centres (not with flip fusion, which
            averages whole maps). Defaults to False.
    """

    def __init__(self, head: nn.Module, input_hw: Tuple[int, int], where: str = 'the model',
                 flip_indices: Optional[Tensor] = None, kpt_reg_features: bool = False) -> None:
        super().__init__()
        codec = head.codec
        if codec.nms is not None:
            raise ValueError(
                f'{where}: test_cfg.nms={codec.nms!r} cannot run inside the ONNX graph; export '
                'without --postprocess (decode with OnnxDeepMark) or set model.test_cfg.nms=None')
        if codec.grouping != 'nearest':
            raise ValueError(f'{where}: only the default nearest (CenterNetKeypointGrouping) rule '
                             f'runs inside the ONNX graph, the config uses '
                             f'{codec.grouping_repr()}; export without --postprocess')
        self.codec = codec
        self.input_hw = tuple(int(v) for v in input_hw)
        self.flip_indices = flip_indices
        conv = kpt_reg_last_conv(head)
        if kpt_reg_features and (flip_indices is not None or conv is None):
            raise ValueError('kpt_reg_features needs no flip fusion (it averages whole kpt_reg '
                             'maps) and a kpt_reg branch ending in a 1x1 convolution')
        self.kpt_reg_last = None
        if kpt_reg_features:  # the branch's last 1x1 convolution as a linear layer
            self.kpt_reg_last = nn.Linear(conv.in_channels, conv.out_channels)
            self.kpt_reg_last.load_state_dict(
                dict(weight=conv.weight.detach().flatten(1), bias=conv.bias.detach()))

    def forward(self, *maps: Tensor) -> Tuple[Tensor, ...]:
        """The six maps (B or, with flip, 2B images) -> :data:`POSTPROCESS_OUTPUT_NAMES`."""
        if self.flip_indices is not None:
            from deepmark_mm.models.test_time_augs import fuse_flip_outputs
            maps = fuse_flip_outputs(*maps, self.flip_indices)
        feat_h, feat_w = maps[0].shape[2:]
        scored, order, _ = self.codec.decode_rows(tuple(maps), kpt_reg_last=self.kpt_reg_last)
        ranked = type(scored)(*(_rows(field, order) for field in scored))
        input_h, input_w = self.input_hw
        stride = ranked.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        real = ranked.center_scores > 0  # (B, M)
        real_float = real.to(ranked.scores.dtype)
        outputs = (
            ranked.bboxes * stride.repeat(2) * real_float.unsqueeze(-1),
            ranked.scores * real_float,
            torch.where(real, ranked.labels, torch.full_like(ranked.labels, -1)),
            ranked.keypoints * stride * real_float[..., None, None],
            ranked.keypoint_scores * real_float.unsqueeze(-1),
        )
        missing = self.codec.max_per_img - order.shape[1]
        if missing > 0:  # pad dim 1 to max_per_img rows
            outputs = tuple(
                F.pad(value, (0, 0) * (value.dim() - 2) + (0, missing), value=-1 if i == 2 else 0)
                for i, value in enumerate(outputs))
        return outputs


def _rows(field: Tensor, order: Tensor) -> Tensor:
    """Rows ``order`` (B, M) of a (B, K, ...) field."""
    index = order.reshape(order.shape + (1, ) * (field.dim() - 2))
    return field.gather(1, index.expand(order.shape + field.shape[2:]))
