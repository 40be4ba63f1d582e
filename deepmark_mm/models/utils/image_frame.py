# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Image frames of DeepMark: network-input size and naming from an img meta, homography
projection to original-image pixels, and a batch's ground truth checked and stacked."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import bbox_project, get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor


def image_name(meta: dict) -> str:
    """How errors name an image: its path, else its id."""
    return str(meta.get('img_path', meta.get('img_id', '<unnamed image>')))


def network_input_size(meta: dict) -> Tuple[int, int]:
    """(h, w) of the network input: ``batch_input_shape``, else ``pad_shape``, ``img_shape``."""
    for key in ('batch_input_shape', 'pad_shape', 'img_shape'):
        if key in meta:
            return int(meta[key][0]), int(meta[key][1])
    raise KeyError(f'DeepMarkHead: img meta of {image_name(meta)} has none of '
                   "'batch_input_shape', 'pad_shape', 'img_shape'")


def project_points(points: Tensor, homography: Tensor) -> Tensor:
    """(..., 2) points through a (3, 3) homography (mmdet's ``new = H @ old``; its
    ``bbox_project`` does boxes only)."""
    matrix = homography.to(points)
    projected = points @ matrix[:2, :2].T + matrix[:2, 2]
    return projected / (points @ matrix[2, :2] + matrix[2, 2]).unsqueeze(-1)


def to_original_image(bboxes: Tensor, keypoints: Tensor, meta: dict) -> Tuple[Tensor, Tensor]:
    """(N, 4) boxes and (N, J, 2) keypoints from network-input to original-image pixels by the
    meta's inverse ``homography_matrix``, else its ``scale_factor``."""
    if meta.get('homography_matrix', None) is not None:
        homography = torch.as_tensor(np.asarray(meta['homography_matrix'], dtype=np.float64))
        inverse = torch.linalg.inv(homography).to(bboxes)
        return bbox_project(bboxes, inverse), project_points(keypoints, inverse)
    if meta.get('scale_factor', None) is not None:
        scale = bboxes.new_tensor(np.asarray(meta['scale_factor'], dtype=np.float64)[:2])
        return bboxes / scale.repeat(2), keypoints / scale
    raise KeyError(f'DeepMarkHead: rescale=True needs homography_matrix or scale_factor in the '
                   f'img meta of {image_name(meta)}')


def stack_gt_instances(batch_gt_instances: Sequence[InstanceData], batch_img_metas: List[dict],
                       num_classes: int, num_keypoints: int,
                       device: torch.device) -> Tuple[Tensor, ...]:
    """Check a batch's ground truth and concatenate it over all G garments: bboxes (G, 4)
    float32, labels (G,), keypoints (G, J, 2) float32, keypoints_visible (G, J), batch ids."""
    fields: Tuple[list, ...] = ([], [], [], [], [])
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
                or visible.shape != (num_gts, num_keypoints) or gt.labels.shape != (num_gts, ):
            raise ValueError(
                f'DeepMarkHead: gt_instances of {image_name(meta)} have bboxes '
                f'{tuple(bboxes.shape)}, labels {tuple(gt.labels.shape)}, keypoints '
                f'{tuple(keypoints.shape)}, keypoints_visible {tuple(visible.shape)}; '
                f'expected ({num_gts}, {num_keypoints}, 2) landmarks')
        if num_gts and (int(gt.labels.min()) < 0 or int(gt.labels.max()) >= num_classes):
            raise ValueError(f'DeepMarkHead: {image_name(meta)} has labels '
                             f'{gt.labels.tolist()} outside [0, {num_classes})')
        for field, value in zip(fields, (bboxes.to(device).float(), gt.labels.to(device),
                                         keypoints.float(), visible,
                                         torch.full((num_gts, ), batch_id, device=device))):
            field.append(value)
    return tuple(torch.cat(field) for field in fields)
