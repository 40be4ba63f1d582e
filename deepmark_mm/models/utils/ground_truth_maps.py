# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Ground truth as DeepMark maps: a batch's training targets (:func:`encode_targets`), and
predicted maps with branches swapped for them (error analysis: which branch limits mAP)."""
from typing import TYPE_CHECKING, Dict, Iterable, List, NamedTuple, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from .centernet_gaussian import centernet_gaussian_radius, draw_gaussians, gaussian_window_pixels
from .image_frame import network_input_size, stack_gt_instances

if TYPE_CHECKING:
    from ..task_modules import DeepMarkCodec


class DeepMarkTargets(NamedTuple):
    """Targets of one feature size: dense heatmaps, sparse regression rows (CenterNet's
    ``ind`` / ``mask`` layout: M garment rows, L landmark rows, more than garments / landmarks
    with ``regression_radius > 0``). Fields: ``center_heatmap`` (B, C, H, W), ``kpt_heatmap``
    (B, J or G, H, W); per garment row ``center_batch_ids``, ``center_pixel_index`` (``y * W +
    x``), ``center_weight`` (1 at the integer centre, else the Gaussian there), ``wh`` (M, 2),
    ``offset`` (M, 2) ``centre - pixel``, ``kpt_reg`` (M, 2J) ``landmark - pixel``,
    ``kpt_reg_weight`` (M, 2J) 1 on supervised coordinates; per landmark row ``kpt_batch_ids``,
    ``kpt_pixel_index``, ``kpt_weight``, ``kpt_offset`` (L, 2); ``num_objects`` and
    ``num_kpt_targets`` count supervised garments and landmarks."""
    center_heatmap: Tensor
    kpt_heatmap: Tensor
    center_batch_ids: Tensor
    center_pixel_index: Tensor
    center_weight: Tensor
    wh: Tensor
    offset: Tensor
    kpt_reg: Tensor
    kpt_reg_weight: Tensor
    kpt_batch_ids: Tensor
    kpt_pixel_index: Tensor
    kpt_weight: Tensor
    kpt_offset: Tensor
    num_objects: int
    num_kpt_targets: int


def encode_targets(codec: 'DeepMarkCodec', batch_gt_instances: Sequence[InstanceData],
                   batch_img_metas: List[dict], feat_shape: Sequence[int]) -> DeepMarkTargets:
    """Targets of a batch for a (B, ., H, W) feature map (CenterNet ``MultiPoseDataset``).

    Per garment, its box clipped to the map (empty ones dropped): a Gaussian at the integer
    centre, ``wh`` / ``offset`` there; each own, visible slot on the map: ``kpt_reg`` from the
    centre, a Gaussian of the same radius, ``kpt_offset`` (``regression_radius``: also at the
    window pixels each Gaussian owns). Shared channels hold the max over their slots.

    Args:
        codec (DeepMarkCodec): Its slot tables and ``regression_radius``.
        batch_gt_instances (Sequence[InstanceData]): ``bboxes`` (N, 4) xyxy, ``labels``
            (N,), ``keypoints`` (N, J, 2), ``keypoints_visible`` (N, J), network-input px.
        batch_img_metas (list[dict]): ``batch_input_shape`` (or ``pad_shape``,
            ``img_shape``); errors name the image.
        feat_shape (Sequence[int]): (B, ., H, W).

    Returns:
        DeepMarkTargets: On the codec's device.
    """
    mask = codec.category_keypoint_mask
    (num_classes, num_keypoints), device = mask.shape, mask.device
    batch_size, feat_h, feat_w = int(feat_shape[0]), int(feat_shape[2]), int(feat_shape[3])
    bboxes, labels, keypoints, visible, batch_ids = stack_gt_instances(
        batch_gt_instances, batch_img_metas, num_classes, num_keypoints, device)
    input_h, input_w = network_input_size(batch_img_metas[0])
    ratio_xy = bboxes.new_tensor([feat_w / float(input_w), feat_h / float(input_h)])
    bound = bboxes.new_tensor([feat_w, feat_h, feat_w, feat_h])
    boxes = (bboxes.float() * ratio_xy.repeat(2)).clamp(min=torch.zeros_like(bound), max=bound)
    box_w, box_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    kept = (box_w > 0) & (box_h > 0)
    boxes, box_w, box_h = boxes[kept], box_w[kept], box_h[kept]
    labels, batch_ids = labels[kept].long(), batch_ids[kept].long()
    keypoints, visible = keypoints[kept].float() * ratio_xy, visible[kept]

    radii = centernet_gaussian_radius(box_h.ceil(), box_w.ceil())
    radii = radii.clamp(min=0).long()  # int() truncates toward 0, like CenterNet
    centers = torch.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], dim=1) / 2
    centers_int = centers.long()  # non-negative after clipping: truncation == floor
    center_heatmap = boxes.new_zeros((batch_size, num_classes, feat_h, feat_w))
    draw_gaussians(center_heatmap, batch_ids, labels, centers_int, radii)

    inside = (keypoints[..., 0] >= 0) & (keypoints[..., 0] < feat_w) & \
             (keypoints[..., 1] >= 0) & (keypoints[..., 1] < feat_h)
    supervised = mask[labels] & (visible > 0) & inside  # (M, J)
    inst_index, slot_index = supervised.nonzero(as_tuple=True)  # (L,), (L,)
    landmarks = keypoints[inst_index, slot_index]  # (L, 2)
    keypoints_int = landmarks.long()
    kpt_batch_ids = batch_ids[inst_index]
    # shared channels: each slot draws into its channel (the max over the channel's slots)
    channels = slot_index if codec.kpt_slot_to_channel is None else \
        codec.kpt_slot_to_channel[slot_index]
    kpt_heatmap = boxes.new_zeros((batch_size, codec.num_kpt_channels, feat_h, feat_w))
    draw_gaussians(kpt_heatmap, kpt_batch_ids, channels, keypoints_int, radii[inst_index])

    feat_hw = (feat_h, feat_w)
    garment, xs, ys, center_weight = gaussian_window_pixels(
        batch_ids, centers_int, radii, codec.regression_radius, batch_size, feat_hw)
    pixels = torch.stack([xs, ys], dim=1).float()  # (M', 2)
    supervised_xy = supervised[garment].unsqueeze(-1).expand(-1, -1, 2)  # (M', J, 2)
    kpt_reg = (keypoints[garment] - pixels.unsqueeze(1)) * supervised_xy
    landmark, kpt_xs, kpt_ys, kpt_weight = gaussian_window_pixels(
        kpt_batch_ids, keypoints_int, radii[inst_index], codec.regression_radius, batch_size,
        feat_hw)
    kpt_pixels = torch.stack([kpt_xs, kpt_ys], dim=1)  # (L', 2)
    return DeepMarkTargets(
        center_heatmap, kpt_heatmap, batch_ids[garment], ys * feat_w + xs, center_weight,
        torch.stack([box_w, box_h], dim=1)[garment], centers[garment] - pixels,
        kpt_reg.reshape(-1, 2 * num_keypoints),
        supervised_xy.float().reshape(-1, 2 * num_keypoints), kpt_batch_ids[landmark],
        kpt_ys * feat_w + kpt_xs, kpt_weight, landmarks[landmark] - kpt_pixels.float(),
        int(labels.numel()), int(inst_index.numel()))


#: Branch names, in the order of :meth:`DeepMarkCodec.decode`'s maps.
BRANCHES = ('center_heatmap', 'wh', 'offset', 'kpt_reg', 'kpt_heatmap', 'kpt_offset')


def substitute_ground_truth(prob_maps: Dict[str, Tensor], targets: DeepMarkTargets,
                            branches: Iterable[str]) -> Dict[str, Tensor]:
    """Replace the named ``branches``' maps of ``prob_maps`` (one (B, C, H, W) map per name in
    :data:`BRANCHES`, heatmaps as probabilities) by the ``targets`` of that feature size:
    heatmaps by the Gaussians, regression maps at the supervised pixels only."""
    branches = set(branches)
    unknown = branches - set(BRANCHES)
    if unknown:
        raise KeyError(f'substitute_ground_truth: unknown branches {sorted(unknown)}; '
                       f'choose from {BRANCHES}')
    maps = dict(prob_maps)
    at_centres = (targets.center_batch_ids, targets.center_pixel_index)
    sparse = dict(
        wh=(at_centres, targets.wh),
        offset=(at_centres, targets.offset),
        kpt_reg=(at_centres, targets.kpt_reg),
        kpt_offset=((targets.kpt_batch_ids, targets.kpt_pixel_index), targets.kpt_offset))
    for name in branches:
        if name in ('center_heatmap', 'kpt_heatmap'):
            maps[name] = getattr(targets, name)
        else:  # a copy with the (N, C) target values at the (N,) supervised pixels
            (batch_ids, pixel_index), values = sparse[name]
            scattered = maps[name].flatten(2).clone()
            scattered[batch_ids, :, pixel_index] = values.to(scattered.dtype)
            maps[name] = scattered.view(maps[name].shape)
    return maps
