# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A DeepMark head whose regression branches (``conv3x3 + ReLU + conv1x1``) are trained only
where their losses read them: the branch evaluated at those pixels, and the head using it."""
from typing import Dict, List, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from torch import Tensor

from deepmark_mm.models.dense_heads import DeepMarkHead
from .centernet_focal_loss import CenterNetFocalLoss


def is_conv3x3_relu_conv1x1(branch: nn.Module) -> bool:
    """Whether ``branch`` is exactly ``Sequential(Conv2d 3x3 (stride 1, padding 1, no dilation
    or groups), ReLU, Conv2d 1x1)``, the branch :class:`BranchAtPixels` computes."""
    if not isinstance(branch, nn.Sequential) or len(branch) != 3:
        return False
    conv3x3, relu, conv1x1 = branch
    return (type(conv3x3) is nn.Conv2d and conv3x3.kernel_size == (3, 3)
            and conv3x3.stride == (1, 1) and conv3x3.padding == (1, 1)
            and conv3x3.dilation == (1, 1) and conv3x3.groups == 1
            and conv3x3.padding_mode == 'zeros' and type(relu) is nn.ReLU
            and type(conv1x1) is nn.Conv2d and conv1x1.kernel_size == (1, 1)
            and conv1x1.stride == (1, 1) and conv1x1.padding == (0, 0) and conv1x1.groups == 1)


class NeighbourhoodCache:
    """The float32 3 x 3 neighbourhoods of one map's pixels, gathered once per set of pixels
    (matched by tensor identity), for the :class:`BranchAtPixels` that share the map.

    Args:
        feat (Tensor): (B, C, H, W) map.
    """

    def __init__(self, feat: Tensor) -> None:
        self.feat = feat
        self._entries: List[Tuple[Tensor, Tensor, Tensor]] = []

    def patches(self, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, 9 * C) zero-padded 3 x 3 neighbourhoods, flattened ``(ky, kx, channel)``, of M
        pixels: (M,) int64 images ``batch_ids`` and ``pixel_index`` ``y * W + x``."""
        for cached_ids, cached_index, patches in self._entries:
            if cached_ids is batch_ids and cached_index is pixel_index:
                return patches
        _, channels, height, width = self.feat.shape
        padded_width = width + 2
        # (B, H + 2, W + 2, C): one zero-bordered row of channels per pixel
        padded = F.pad(self.feat.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).reshape(-1, channels)
        ys = torch.div(pixel_index, width, rounding_mode='floor')
        xs = pixel_index - ys * width
        # the window of output pixel (y, x) starts at padded pixel (y, x)
        top_left = (batch_ids * (height + 2) + ys) * padded_width + xs
        offsets = torch.arange(3, device=self.feat.device)
        window = (offsets[:, None] * padded_width + offsets[None, :]).reshape(-1)  # (9,) ky, kx
        patches = padded[top_left[:, None] + window[None, :]].reshape(-1, 9 * channels).float()
        self._entries.append((batch_ids, pixel_index, patches))
        return patches


class BranchAtPixels:
    """A ``conv3x3 + ReLU + conv1x1`` branch's output map, computed only where :meth:`rows`
    reads it (same values and gradients as the dense map, in float32).

    Args:
        feat (Tensor | NeighbourhoodCache): (B, C, H, W) input of the branch, or a cache of its
            patches shared with other branches on the same input.
        branch (nn.Sequential): The branch, see :func:`is_conv3x3_relu_conv1x1`.
    """

    def __init__(self, feat: Union[Tensor, NeighbourhoodCache], branch: nn.Sequential) -> None:
        if not is_conv3x3_relu_conv1x1(branch):
            raise TypeError(f'BranchAtPixels needs a Sequential(Conv2d 3x3, ReLU, Conv2d 1x1) '
                            f'branch, got {branch}')
        self.cache = feat if isinstance(feat, NeighbourhoodCache) else NeighbourhoodCache(feat)
        self.feat = self.cache.feat
        self.branch = branch

    def rows(self, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, O) branch output at M (image, ``y * W + x``) pairs, in float32 also under
        autocast (the rows feed sub-pixel L1 losses)."""
        patches = self.cache.patches(batch_ids, pixel_index)
        conv3x3, _, conv1x1 = self.branch
        with torch.autocast(device_type=patches.device.type, enabled=False):
            kernel = conv3x3.weight.permute(0, 2, 3, 1).reshape(conv3x3.out_channels, -1)
            hidden = F.relu(F.linear(patches, kernel, conv3x3.bias))
            return F.linear(hidden, conv1x1.weight.flatten(1), conv1x1.bias)


@MODELS.register_module()
class SparseRegressionDeepMarkHead(DeepMarkHead):
    """:class:`DeepMarkHead` for CPU training: the same model, losses and gradients, cheaper steps.

    In :meth:`loss` the ``conv3x3 + ReLU + conv1x1`` regression branches are
    :class:`BranchAtPixels` and the heatmap losses :class:`CenterNetFocalLoss` on the logits.
    Inference, parameters and checkpoints are :class:`DeepMarkHead`'s.

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

            def regression(branch: nn.ModuleList) -> Union[Tensor, BranchAtPixels]:
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
    def rows_at(pred: Union[Tensor, BranchAtPixels], batch_ids: Tensor,
                pixel_index: Tensor) -> Tensor:
        """(M, C) float32 rows of a map or of a :class:`BranchAtPixels` computed there."""
        if isinstance(pred, BranchAtPixels):
            return pred.rows(batch_ids, pixel_index)  # float32 by construction
        return DeepMarkHead.rows_at(pred, batch_ids, pixel_index)
