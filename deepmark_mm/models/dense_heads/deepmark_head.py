# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMark head: CenterNet's ``multi_pose`` head for multi-category landmark sets."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.utils import multi_apply
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptInstanceList, OptMultiConfig
from mmengine.model import normal_init
from torch import Tensor

from deepmark_mm.datasets.deepfashion2_metainfo import NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.datasets.keypoint_metainfo import resolve_keypoint_slices
from ..task_modules import DeepMarkCodec, DeepMarkTargets
from ..utils.peak_topk import pixel_major

#: CenterNet's ``_sigmoid`` clamp, keeps the focal loss finite.
PROB_EPS = 1e-4
#: CenterNet's initial bias of both heatmap logits.
HEATMAP_BIAS_INIT = -2.19


def clamped_sigmoid(logits: Tensor) -> Tensor:
    """CenterNet's ``_sigmoid``: ``sigmoid(x).clamp(1e-4, 1 - 1e-4)``, any shape, in float32
    (``1 - 1e-4`` is not representable in float16)."""
    return logits.float().sigmoid().clamp(PROB_EPS, 1 - PROB_EPS)


RENAMED_CODEC_KEYS = dict(landmark_score_weight='keypoint_score_weight')  # keep old name


@MODELS.register_module()
class DeepMarkHead(BaseDenseHead):
    """One-shot garment + landmark head (DeepMark, Sidnev et al. 2019; CenterNet ``multi_pose``).

    Six branches per feature level, each ``conv3x3(in, feat) + ReLU + conv1x1``:

    ================ ================= ================================================
    branch           channels          meaning
    ================ ================= ================================================
    heatmap_head     num_classes       garment centre per category (logits)
    wh_head          2                 box width, height (feature pixels)
    offset_head      2                 sub-pixel centre offset
    kpt_reg_head     2 * num_keypoints landmark j at (2j, 2j + 1): (dx, dy) from the centre
    kpt_heatmap_head num_keypoints / G one heatmap per slot (logits), or G shared channels
    kpt_offset_head  2                 sub-pixel landmark offset, shared by all slots
    ================ ================= ================================================

    Every branch has one entry per feature level (stack); all levels are supervised, losses
    averaged; predictions come from the last level. Each category owns the slots
    ``keypoint_slices[label]`` (``codec.category_keypoint_mask``). Targets and decoding are the
    :class:`DeepMarkCodec`'s (``codec.kpt_slot_to_channel``: shared channels).

    Args:
        in_channels (int): Channels of each input feature map (stride 4).
        feat_channels (int | dict[str, int]): Hidden channels of every branch, or per branch
            name (``heatmap``, ``wh``, ``offset``, ``kpt_reg``, ``kpt_heatmap``,
            ``kpt_offset``; missing names get key ``default``). Defaults to 256.
        num_classes (int): Garment categories. Defaults to DeepFashion2's 13.
        num_keypoints (int): Landmark slots over all categories. Defaults to 294.
        keypoint_slices (Sequence[Sequence[int]], optional): ``[start, end)`` per category;
            DeepFashion2's when None (only valid with 13 classes and 294 slots).
        num_feat_levels (int): Feature levels (stacks) the head receives. Defaults to 1.
        kpt_heatmap_channels, flip_indices, regression_radius: Shared landmark
            heatmap channels and target options of :class:`DeepMarkCodec`.
        loss_center_heatmap, loss_kpt_heatmap (dict): Focal losses of the heatmaps, on
            :func:`clamped_sigmoid` of the logits.
        loss_wh, loss_offset, loss_kpt_reg, loss_kpt_offset (dict): L1 losses (wh: weight 0.1).
        train_cfg (dict, optional): Unused, kept for mmdet detectors.
        test_cfg (dict, optional): Decoding options of :class:`DeepMarkCodec` (``topk``,
            ``local_maximum_kernel``, ``kpt_topk``, ``max_per_img``, ``vote_radius``,
            ``kpt_vote_radius``, ``keypoint_score_weight``, ``nms``, ``grouping``).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: Union[int, Dict[str, int]] = 256,
                 num_classes: int = NUM_CLASSES,
                 num_keypoints: int = NUM_KEYPOINTS,
                 keypoint_slices: Optional[Sequence[Sequence[int]]] = None,
                 num_feat_levels: int = 1,
                 kpt_heatmap_channels: object = None,
                 flip_indices: Optional[Sequence[int]] = None,
                 regression_radius: int = 0,
                 loss_center_heatmap: ConfigType = dict(
                     type='GaussianFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 loss_wh: ConfigType = dict(type='L1Loss', loss_weight=0.1),
                 loss_offset: ConfigType = dict(type='L1Loss', loss_weight=1.0),
                 loss_kpt_reg: ConfigType = dict(type='L1Loss', loss_weight=1.0),
                 loss_kpt_heatmap: ConfigType = dict(
                     type='GaussianFocalLoss', alpha=2.0, gamma=4.0, loss_weight=1.0),
                 loss_kpt_offset: ConfigType = dict(type='L1Loss', loss_weight=1.0),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        keypoint_slices = resolve_keypoint_slices(num_classes, num_keypoints, keypoint_slices,
                                                  owner='DeepMarkHead')
        if num_feat_levels < 1:
            raise ValueError(f'DeepMarkHead: num_feat_levels must be >= 1, got {num_feat_levels}')

        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.num_classes = num_classes
        self.num_keypoints = num_keypoints
        self.keypoint_slices = keypoint_slices
        self.num_feat_levels = num_feat_levels
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg if test_cfg is not None else dict()
        codec_cfg = dict(
            type='DeepMarkCodec', num_classes=num_classes, num_keypoints=num_keypoints,
            keypoint_slices=keypoint_slices, kpt_heatmap_channels=kpt_heatmap_channels,
            flip_indices=flip_indices, regression_radius=regression_radius, **self.test_cfg)
        renamed = [key for key in RENAMED_CODEC_KEYS if key in codec_cfg]
        if renamed:
            raise ValueError(f'DeepMarkHead: {renamed[0]} is now called '
                             f'{RENAMED_CODEC_KEYS[renamed[0]]}')
        self.codec: DeepMarkCodec = TASK_UTILS.build(codec_cfg)
        self.num_kpt_heatmap_channels = self.codec.num_kpt_channels

        self.heatmap_head = self._build_branch('heatmap', num_classes)
        self.wh_head = self._build_branch('wh', 2)
        self.offset_head = self._build_branch('offset', 2)
        self.kpt_reg_head = self._build_branch('kpt_reg', 2 * num_keypoints)
        self.kpt_heatmap_head = self._build_branch('kpt_heatmap', self.num_kpt_heatmap_channels)
        self.kpt_offset_head = self._build_branch('kpt_offset', 2)

        self.loss_center_heatmap = MODELS.build(loss_center_heatmap)
        self.loss_wh = MODELS.build(loss_wh)
        self.loss_offset = MODELS.build(loss_offset)
        self.loss_kpt_reg = MODELS.build(loss_kpt_reg)
        self.loss_kpt_heatmap = MODELS.build(loss_kpt_heatmap)
        self.loss_kpt_offset = MODELS.build(loss_kpt_offset)

    def _build_branch(self, name: str, out_channels: int) -> nn.ModuleList:
        """One ``conv3x3 + ReLU + conv1x1`` branch per feature level."""
        hidden = self.feat_channels
        if isinstance(hidden, dict):
            hidden = hidden.get(name, hidden.get('default'))
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f'DeepMarkHead: feat_channels={self.feat_channels!r} gives branch '
                             f'{name!r} {hidden!r} hidden channels, not a positive int')
        return nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(self.in_channels, hidden, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, out_channels, kernel_size=1))
            for _ in range(self.num_feat_levels))

    def init_weights(self) -> None:
        """Heatmap logits start at CenterNet's bias; regression convs ~ N(0, 0.001)."""
        for branch in (self.heatmap_head, self.kpt_heatmap_head):
            for level in branch:
                level[-1].bias.data.fill_(HEATMAP_BIAS_INIT)
        for branch in (self.wh_head, self.offset_head, self.kpt_reg_head, self.kpt_offset_head):
            for module in branch.modules():
                if isinstance(module, nn.Conv2d):
                    normal_init(module, std=0.001)

    def forward(self, feats: Tuple[Tensor, ...]) -> Tuple[List[Tensor], ...]:
        """The six branches' per-level lists (see the class table) of ``num_feat_levels`` maps
        (B, in_channels, H, W); heatmaps as logits."""
        self._check_num_levels(feats)
        return multi_apply(self.forward_single, feats, list(range(len(feats))))

    def _check_num_levels(self, feats: Tuple[Tensor, ...]) -> None:
        if len(feats) != self.num_feat_levels:
            raise ValueError(f'DeepMarkHead was built for {self.num_feat_levels} feature '
                             f'level(s) but received {len(feats)}; set num_feat_levels')

    def forward_single(self, feat: Tensor, level: int) -> Tuple[Tensor, ...]:
        """The six branch outputs of one level, see :meth:`forward`."""
        return (self.heatmap_head[level](feat), self.wh_head[level](feat),
                self.offset_head[level](feat), self.kpt_reg_head[level](feat),
                self.kpt_heatmap_head[level](feat), self.kpt_offset_head[level](feat))

    def loss_by_feat(self,
                     center_heatmap_preds: List[Tensor],
                     wh_preds: List[Tensor],
                     offset_preds: List[Tensor],
                     kpt_reg_preds: List[Tensor],
                     kpt_heatmap_preds: List[Tensor],
                     kpt_offset_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """The six ``loss_*`` of :meth:`forward`'s lists, averaged over levels.

        Focal losses are divided by the number of garments / labelled landmarks, L1 losses by
        the supervised weight (each at least 1). Ground truth as :meth:`DeepMarkCodec.encode` takes.
        """
        targets_by_shape: Dict[Tuple[int, ...], DeepMarkTargets] = {}
        level_losses = []
        for preds in zip(center_heatmap_preds, wh_preds, offset_preds, kpt_reg_preds,
                         kpt_heatmap_preds, kpt_offset_preds):
            shape = tuple(preds[0].shape)
            if shape not in targets_by_shape:
                targets_by_shape[shape] = self.get_targets(batch_gt_instances, batch_img_metas,
                                                           shape)
            level_losses.append(self.loss_by_feat_single(*preds, targets_by_shape[shape]))
        return {name: sum(losses[name] for losses in level_losses) / len(level_losses)
                for name in level_losses[0]}

    def loss_by_feat_single(self, center_heatmap_pred: Tensor, wh_pred: Tensor,
                            offset_pred: Tensor, kpt_reg_pred: Tensor,
                            kpt_heatmap_pred: Tensor, kpt_offset_pred: Tensor,
                            targets: DeepMarkTargets) -> Dict[str, Tensor]:
        """Losses of one level, shapes as in :meth:`forward`."""
        center_input = self.heatmap_loss_input(center_heatmap_pred)
        kpt_input = self.heatmap_loss_input(kpt_heatmap_pred)

        def at_centers(pred: Tensor) -> Tensor:  # (B, C, H, W) -> (M, C)
            return self.rows_at(pred, targets.center_batch_ids, targets.center_pixel_index)

        kpt_offset_at = self.rows_at(kpt_offset_pred, targets.kpt_batch_ids,
                                     targets.kpt_pixel_index)
        # each regression row weighs its Gaussian (1 with regression_radius = 0)
        center_weight = targets.center_weight.unsqueeze(1)  # (M, 1)
        center_xy_weight = center_weight.expand(-1, 2)
        kpt_reg_weight = targets.kpt_reg_weight * center_weight
        kpt_xy_weight = targets.kpt_weight.unsqueeze(1).expand(-1, 2)
        center_avg = _avg_factor(center_xy_weight)  # one host sync for both
        return dict(
            loss_center_heatmap=self.loss_center_heatmap(
                center_input, targets.center_heatmap, avg_factor=max(1, targets.num_objects)),
            loss_wh=self.loss_wh(
                at_centers(wh_pred), targets.wh, weight=center_xy_weight, avg_factor=center_avg),
            loss_offset=self.loss_offset(
                at_centers(offset_pred), targets.offset, weight=center_xy_weight,
                avg_factor=center_avg),
            loss_kpt_reg=self.loss_kpt_reg(
                at_centers(kpt_reg_pred), targets.kpt_reg, weight=kpt_reg_weight,
                avg_factor=_avg_factor(kpt_reg_weight)),
            loss_kpt_heatmap=self.loss_kpt_heatmap(
                kpt_input, targets.kpt_heatmap, avg_factor=max(1, targets.num_kpt_targets)),
            loss_kpt_offset=self.loss_kpt_offset(
                kpt_offset_at, targets.kpt_offset, weight=kpt_xy_weight,
                avg_factor=_avg_factor(kpt_xy_weight)))

    def heatmap_loss_input(self, logits: Tensor) -> Tensor:
        """What the heatmap losses receive from (B, C, H, W) logits: :func:`clamped_sigmoid`."""
        return clamped_sigmoid(logits)

    @staticmethod
    def rows_at(pred: Tensor, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, C) float32 channel vectors of a (B, C, H, W) map at M (image, ``y * W + x``)
        pairs, read from the copy-free :func:`pixel_major` view."""
        return pixel_major(pred)[batch_ids, pixel_index].float()

    def get_targets(self, batch_gt_instances: InstanceList, batch_img_metas: List[dict],
                    feat_shape: Sequence[int]) -> DeepMarkTargets:
        """Targets for a (B, C, H, W) ``feat_shape`` (:meth:`DeepMarkCodec.encode`)."""
        return self.codec.encode(batch_gt_instances, batch_img_metas, feat_shape)

    def predict_by_feat(self, center_heatmap_preds: List[Tensor], wh_preds: List[Tensor],
                        offset_preds: List[Tensor], kpt_reg_preds: List[Tensor],
                        kpt_heatmap_preds: List[Tensor], kpt_offset_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None, rescale: bool = False,
                        with_nms: Optional[bool] = None) -> InstanceList:
        """Detections from :meth:`forward`'s six lists: :meth:`DeepMarkCodec.decode` of their
        :meth:`DeepMarkCodec.prob_maps` (``rescale``: original-image pixels; ``with_nms``: None
        follows the codec's ``nms``)."""
        maps = self.codec.prob_maps((center_heatmap_preds, wh_preds, offset_preds, kpt_reg_preds,
                                     kpt_heatmap_preds, kpt_offset_preds))
        return self.codec.decode(maps, batch_img_metas, rescale=rescale, with_nms=with_nms)


def _avg_factor(weight: Tensor) -> float:
    """CenterNet's L1 normaliser: the supervised weight in all, at least 1."""
    return max(1., float(weight.sum()))
