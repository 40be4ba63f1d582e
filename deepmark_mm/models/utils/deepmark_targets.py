# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Training targets of the DeepMark head (CenterNet ``multi_pose`` semantics), fully vectorized."""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor

from .centernet_gaussian import centernet_gaussian_radius, draw_gaussians, gaussian_window_pixels
from .img_meta import image_name


class DeepMarkTargets(NamedTuple):
    """Targets of one feature-map size for a batch.

    Dense maps are only built for the two heatmaps; every regression target is sparse (one row
    per supervised pixel, CenterNet's ``ind``/``mask`` layout), and the head gathers its
    predictions at ``(batch_ids, pixel_index)``. With ``regression_radius = 0`` (CenterNet) a
    garment has one row, at its integer centre, and a landmark one, at its integer position:
    ``M`` = garments kept, ``L`` = landmarks kept. A larger radius adds rows for the nearby
    pixels (see :func:`build_deepmark_targets`), so ``M`` and ``L`` count rows, while
    ``num_objects`` and ``num_landmarks`` still count garments and landmarks.

    Attributes:
        center_heatmap (Tensor): (B, num_classes, H, W) Gaussian garment-centre heatmap.
        kpt_heatmap (Tensor): (B, num_keypoints, H, W) Gaussian landmark heatmap.
        center_batch_ids (Tensor): (M,) int64 image index of each garment row.
        center_pixel_index (Tensor): (M,) int64 ``y * W + x`` of the row's pixel (the integer
            centre, or a pixel near it).
        center_weight (Tensor): (M,) weight of each garment row: 1 at the integer centre, the
            garment's heatmap Gaussian at a nearby pixel.
        wh (Tensor): (M, 2) box width, height in feature pixels.
        offset (Tensor): (M, 2) ``centre - pixel``: the sub-pixel centre offset at the integer
            centre.
        kpt_reg (Tensor): (M, 2 * num_keypoints) landmark ``(dx, dy)`` from the row's pixel,
            slot ``j`` at columns ``2j, 2j + 1``; 0 where unsupervised.
        kpt_reg_weight (Tensor): (M, 2 * num_keypoints) 1 on supervised coordinates (the
            garment's own labelled slots inside the feature map), else 0.
        kpt_batch_ids (Tensor): (L,) int64 image index of each landmark row.
        kpt_pixel_index (Tensor): (L,) int64 ``y * W + x`` of the row's pixel.
        kpt_weight (Tensor): (L,) weight of each landmark row, as ``center_weight``.
        kpt_offset (Tensor): (L, 2) ``landmark - pixel``: the sub-pixel landmark offset at the
            landmark's integer position.
        num_objects (int): Garments supervised.
        num_landmarks (int): Landmarks supervised.
    """
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
    num_landmarks: int


def build_deepmark_targets(bboxes: Tensor,
                           labels: Tensor,
                           keypoints: Tensor,
                           keypoints_visible: Tensor,
                           batch_ids: Tensor,
                           batch_size: int,
                           feat_size: Tuple[int, int],
                           input_size: Tuple[int, int],
                           category_keypoint_mask: Tensor,
                           min_overlap: float = 0.7,
                           regression_radius: int = 0) -> DeepMarkTargets:
    """Build CenterNet ``multi_pose`` targets for all garments of a batch at once.

    Per garment (as CenterNet's ``MultiPoseDataset``): the box is scaled to feature pixels and
    clipped to the map, ``[0, W] x [0, H]`` in mmdet's continuous coordinates (CenterNet clips to
    ``W - 1``, its discrete convention, which would shorten every box touching the right or bottom
    border by one feature pixel); garments whose clipped box is empty are dropped.
    ``r = max(0, int(centernet_gaussian_radius(ceil(h), ceil(w), min_overlap)))``; a Gaussian of
    radius ``r`` goes to channel ``label`` at the integer centre, ``wh`` and ``offset`` are
    regressed there. Each own-category slot with visibility > 0 whose scaled position lies in
    ``[0, W) x [0, H)`` gets a ``kpt_reg`` target relative to the integer centre, a Gaussian of the
    same radius ``r`` in its own channel and a ``kpt_offset`` target at its integer position.
    Unlike CenterNet's COCO-person code, a garment with no labelled landmark still supervises its
    box (DeepFashion2 boxes are always annotated).

    ``regression_radius = w > 0`` supervises the regressions densely, as TTFNet does: every pixel
    ``p`` of the ``(2w+1) x (2w+1)`` window around an integer centre that the garment's Gaussian
    owns (:func:`gaussian_window_pixels`) regresses ``wh``, ``offset = centre - p`` and
    ``kpt_reg = landmark - p``, weighted by the Gaussian there; likewise around each landmark
    for ``kpt_offset = landmark - p``. Decoding is unchanged (a peak at ``p`` reads ``p + offset``),
    but a peak one pixel off now also reads the right box and landmarks, and the regressions see
    several times more samples.

    Args:
        bboxes (Tensor): (N, 4) xyxy boxes in network-input pixels.
        labels (Tensor): (N,) int labels in ``[0, num_classes)``.
        keypoints (Tensor): (N, K, 2) landmarks in network-input pixels.
        keypoints_visible (Tensor): (N, K) visibility; supervised where > 0.
        batch_ids (Tensor): (N,) int image index of each garment in ``[0, batch_size)``.
        batch_size (int): B.
        feat_size (tuple[int, int]): (H, W) of the feature map.
        input_size (tuple[int, int]): (h, w) of the network input the map covers.
        category_keypoint_mask (Tensor): (num_classes, K) bool, slots owned by each category.
        min_overlap (float): ``min_overlap`` of the radius formula. Defaults to 0.7.
        regression_radius (int): Window half-size ``w`` of the dense regression; 0 (the default)
            is CenterNet's single pixel.

    Returns:
        DeepMarkTargets: Targets on the device of ``bboxes``.

    Raises:
        ValueError: On inconsistent shapes or labels outside ``[0, num_classes)``.
    """
    num_classes, num_keypoints = category_keypoint_mask.shape
    num_gts = bboxes.shape[0]
    if bboxes.shape != (num_gts, 4) or labels.shape != (num_gts, ) \
            or keypoints.shape != (num_gts, num_keypoints, 2) \
            or keypoints_visible.shape != (num_gts, num_keypoints) \
            or batch_ids.shape != (num_gts, ):
        raise ValueError(
            f'build_deepmark_targets expects bboxes (N, 4), labels (N,), keypoints (N, '
            f'{num_keypoints}, 2), keypoints_visible (N, {num_keypoints}), batch_ids (N,); got '
            f'{tuple(bboxes.shape)}, {tuple(labels.shape)}, {tuple(keypoints.shape)}, '
            f'{tuple(keypoints_visible.shape)}, {tuple(batch_ids.shape)}')
    if num_gts and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f'labels must lie in [0, {num_classes}), got {labels.unique().tolist()}')

    device = bboxes.device
    feat_h, feat_w = int(feat_size[0]), int(feat_size[1])
    width_ratio = feat_w / float(input_size[1])
    height_ratio = feat_h / float(input_size[0])
    ratio_xy = bboxes.new_tensor([width_ratio, height_ratio])

    boxes = bboxes.float() * ratio_xy.repeat(2)
    boxes = torch.stack([
        boxes[:, 0].clamp(0, feat_w), boxes[:, 1].clamp(0, feat_h),
        boxes[:, 2].clamp(0, feat_w), boxes[:, 3].clamp(0, feat_h)
    ], dim=1)
    box_w = boxes[:, 2] - boxes[:, 0]
    box_h = boxes[:, 3] - boxes[:, 1]
    kept = (box_w > 0) & (box_h > 0)
    boxes, box_w, box_h = boxes[kept], box_w[kept], box_h[kept]
    labels = labels[kept].long().to(device)
    batch_ids = batch_ids[kept].long().to(device)
    keypoints = keypoints[kept].float().to(device) * ratio_xy
    keypoints_visible = keypoints_visible[kept].to(device)

    radii = centernet_gaussian_radius(box_h.ceil(), box_w.ceil(), min_overlap)
    radii = radii.clamp(min=0).long()  # int() truncates toward 0, like CenterNet
    centers = torch.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], dim=1) / 2
    centers_int = centers.long()  # non-negative after clipping: truncation == floor

    center_heatmap = boxes.new_zeros((batch_size, num_classes, feat_h, feat_w))
    draw_gaussians(center_heatmap, batch_ids, labels, centers_int, radii)

    own_slots = category_keypoint_mask.to(device)[labels]  # (M, K)
    inside = (keypoints[..., 0] >= 0) & (keypoints[..., 0] < feat_w) & \
             (keypoints[..., 1] >= 0) & (keypoints[..., 1] < feat_h)
    supervised = own_slots & (keypoints_visible > 0) & inside  # (M, K)
    inst_index, slot_index = supervised.nonzero(as_tuple=True)  # (L,), (L,)
    landmarks = keypoints[inst_index, slot_index]  # (L, 2)
    landmarks_int = landmarks.long()
    kpt_batch_ids = batch_ids[inst_index]
    kpt_heatmap = boxes.new_zeros((batch_size, num_keypoints, feat_h, feat_w))
    draw_gaussians(kpt_heatmap, kpt_batch_ids, slot_index, landmarks_int, radii[inst_index])

    feat_hw = (feat_h, feat_w)
    garment, xs, ys, center_weight = gaussian_window_pixels(
        batch_ids, centers_int, radii, regression_radius, batch_size, feat_hw)
    pixels = torch.stack([xs, ys], dim=1).float()  # (M', 2)
    supervised_xy = supervised[garment].unsqueeze(-1).expand(-1, -1, 2)  # (M', K, 2)
    kpt_reg = (keypoints[garment] - pixels.unsqueeze(1)) * supervised_xy
    landmark, kpt_xs, kpt_ys, kpt_weight = gaussian_window_pixels(
        kpt_batch_ids, landmarks_int, radii[inst_index], regression_radius, batch_size, feat_hw)
    kpt_pixels = torch.stack([kpt_xs, kpt_ys], dim=1)  # (L', 2)

    return DeepMarkTargets(
        center_heatmap=center_heatmap,
        kpt_heatmap=kpt_heatmap,
        center_batch_ids=batch_ids[garment],
        center_pixel_index=ys * feat_w + xs,
        center_weight=center_weight,
        wh=torch.stack([box_w, box_h], dim=1)[garment],
        offset=centers[garment] - pixels,
        kpt_reg=kpt_reg.reshape(-1, 2 * num_keypoints),
        kpt_reg_weight=supervised_xy.float().reshape(-1, 2 * num_keypoints),
        kpt_batch_ids=kpt_batch_ids[landmark],
        kpt_pixel_index=kpt_ys * feat_w + kpt_xs,
        kpt_weight=kpt_weight,
        kpt_offset=landmarks[landmark] - kpt_pixels.float(),
        num_objects=int(labels.numel()),
        num_landmarks=int(inst_index.numel()))


def stack_gt_instances(batch_gt_instances: Sequence[InstanceData], batch_img_metas: List[dict],
                       num_classes: int, num_keypoints: int,
                       device: torch.device) -> Dict[str, Tensor]:
    """Check a batch's ground truth and concatenate it, the input of
    :func:`build_deepmark_targets`.

    Args:
        batch_gt_instances (Sequence[:obj:`InstanceData`]): Per image ``bboxes`` (N, 4) xyxy,
            ``labels`` (N,), ``keypoints`` (N, J, 2), ``keypoints_visible`` (N, J).
        batch_img_metas (list[dict]): Per image meta (errors name the image).
        num_classes (int): Labels must lie in ``[0, num_classes)``.
        num_keypoints (int): J.
        device (torch.device): Where the outputs go.

    Returns:
        dict[str, Tensor]: ``bboxes`` (G, 4) float32, ``labels`` (G,), ``keypoints`` (G, J, 2)
        float32, ``keypoints_visible`` (G, J), ``batch_ids`` (G,) over all G garments.

    Raises:
        KeyError: If an image's instances lack a field (packer not used).
        ValueError: If shapes disagree with J or a label is out of range.
    """
    fields: Dict[str, list] = dict(
        bboxes=[], labels=[], keypoints=[], keypoints_visible=[], batch_ids=[])
    for batch_id, (gt, meta) in enumerate(zip(batch_gt_instances, batch_img_metas)):
        bboxes = get_box_tensor(gt.bboxes).reshape(-1, 4)
        num_gts = bboxes.shape[0]
        missing = [key for key in ('labels', 'keypoints', 'keypoints_visible') if key not in gt]
        if missing:
            raise KeyError(f'DeepMarkHead: gt_instances of {image_name(meta)} lack '
                           f'{missing}; pack them with PackDeepMarkInputs')
        keypoints = torch.as_tensor(gt.keypoints, device=device)
        visible = torch.as_tensor(gt.keypoints_visible, device=device)
        if keypoints.shape != (num_gts, num_keypoints, 2) \
                or visible.shape != (num_gts, num_keypoints) \
                or gt.labels.shape != (num_gts, ):
            raise ValueError(
                f'DeepMarkHead: gt_instances of {image_name(meta)} have bboxes '
                f'{tuple(bboxes.shape)}, labels {tuple(gt.labels.shape)}, keypoints '
                f'{tuple(keypoints.shape)}, keypoints_visible {tuple(visible.shape)}; '
                f'expected ({num_gts}, {num_keypoints}, 2) landmarks')
        if num_gts and (int(gt.labels.min()) < 0 or int(gt.labels.max()) >= num_classes):
            raise ValueError(f'DeepMarkHead: {image_name(meta)} has labels '
                             f'{gt.labels.tolist()} outside [0, {num_classes})')
        fields['bboxes'].append(bboxes.to(device).float())
        fields['labels'].append(gt.labels.to(device))
        fields['keypoints'].append(keypoints.float())
        fields['keypoints_visible'].append(visible)
        fields['batch_ids'].append(torch.full((num_gts, ), batch_id, device=device))
    return {key: torch.cat(value) for key, value in fields.items()}
