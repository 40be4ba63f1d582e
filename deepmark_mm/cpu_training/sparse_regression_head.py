# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A DeepMark head whose regression branches are trained only where their losses read them."""
from typing import Dict, Tuple, Union

import torch.nn as nn
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from torch import Tensor

from deepmark_mm.models.dense_heads import DeepMarkHead
from .branch_at_pixels import BranchAtPixels, NeighbourhoodCache, is_conv3x3_relu_conv1x1
from .centernet_focal_loss import CenterNetFocalLoss

#: A regression branch's output in training: the dense map or the branch evaluated where read.
RegressionMap = Union[Tensor, BranchAtPixels]


@MODELS.register_module()
class SparseRegressionDeepMarkHead(DeepMarkHead):
    """:class:`DeepMarkHead` for CPU training: the same model, losses and gradients, cheaper steps.

    In :meth:`loss` the four regression branches (wh, offset, kpt_reg, kpt_offset) are evaluated
    only at the pixels their L1 losses read (:class:`BranchAtPixels`, in float32 even under
    autocast) instead of over the whole map, and the heatmap losses are
    :class:`CenterNetFocalLoss` on the logits (value and gradient in one pass). Branches that are
    not ``conv3x3 + ReLU + conv1x1`` run densely. Inference, parameters and checkpoints are
    :class:`DeepMarkHead`'s, so a checkpoint trained with either head loads into the other.

    Args:
        loss_center_heatmap (dict): Must build a :class:`CenterNetFocalLoss` (it takes logits).
        loss_kpt_heatmap (dict): As ``loss_center_heatmap``.
        **kwargs: :class:`DeepMarkHead`'s other arguments.
    """

    def __init__(self,
                 *args,
                 loss_center_heatmap: ConfigType = dict(
                     type='CenterNetFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 loss_kpt_heatmap: ConfigType = dict(
                     type='CenterNetFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 **kwargs) -> None:
        super().__init__(
            *args, loss_center_heatmap=loss_center_heatmap, loss_kpt_heatmap=loss_kpt_heatmap,
            **kwargs)
        for name in ('loss_center_heatmap', 'loss_kpt_heatmap'):
            if not isinstance(getattr(self, name), CenterNetFocalLoss):
                raise TypeError(f'SparseRegressionDeepMarkHead: {name} must be a '
                                f'CenterNetFocalLoss (it receives logits), got '
                                f'{type(getattr(self, name)).__name__}')

    def loss(self, x: Tuple[Tensor, ...], batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """:meth:`DeepMarkHead.loss_by_feat` of :meth:`forward_for_loss`'s maps."""
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = unpack_gt_instances(
            batch_data_samples)
        return self.loss_by_feat(*self.forward_for_loss(x), batch_gt_instances, batch_img_metas,
                                 batch_gt_instances_ignore)

    def forward_for_loss(self, feats: Tuple[Tensor, ...]) -> Tuple[list, ...]:
        """:meth:`forward`'s six lists, wh, offset, kpt_reg and kpt_offset entries as
        :class:`BranchAtPixels` where their branch allows it."""
        self._check_num_levels(feats)
        outs: Tuple[list, ...] = tuple([] for _ in range(6))
        for level, feat in enumerate(feats):
            # the branches share their input's patches (wh, offset, kpt_reg: the same rows)
            patches = NeighbourhoodCache(feat)

            def regression(branch: nn.ModuleList) -> RegressionMap:
                if is_conv3x3_relu_conv1x1(branch[level]):
                    return BranchAtPixels(patches, branch[level])
                return branch[level](feat)

            level_outs = (self.heatmap_head[level](feat), regression(self.wh_head),
                          regression(self.offset_head), regression(self.kpt_reg_head),
                          self.kpt_heatmap_head[level](feat), regression(self.kpt_offset_head))
            for out_list, out in zip(outs, level_outs):
                out_list.append(out)
        return outs

    def heatmap_loss_input(self, logits: Tensor) -> Tensor:
        """The logits themselves: :class:`CenterNetFocalLoss` applies the clamped sigmoid."""
        return logits

    @staticmethod
    def rows_at(pred: RegressionMap, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, C) float32 rows of a map or of a :class:`BranchAtPixels` computed there."""
        if isinstance(pred, BranchAtPixels):
            return pred.rows(batch_ids, pixel_index)  # float32 by construction
        return DeepMarkHead.rows_at(pred, batch_ids, pixel_index)
