# Copyright (c) deepmark_mm contributors. All rights reserved.
"""What decoding and target building read from an image's meta: its name, the network-input size,
and the way back to original-image pixels."""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

from .point_projection import project_bboxes, project_points


def image_name(meta: dict) -> str:
    """How errors name an image: its path, else its id."""
    return str(meta.get('img_path', meta.get('img_id', '<unnamed image>')))


def network_input_size(meta: dict) -> Tuple[int, int]:
    """(h, w) of the network input a feature map covers: ``batch_input_shape``, else
    ``pad_shape``, else ``img_shape``.

    Raises:
        KeyError: If the meta has none of them (the error names the image).
    """
    for key in ('batch_input_shape', 'pad_shape', 'img_shape'):
        if key in meta:
            return int(meta[key][0]), int(meta[key][1])
    raise KeyError(f'DeepMarkHead: img meta of {image_name(meta)} has none of '
                   "'batch_input_shape', 'pad_shape', 'img_shape'")


def to_original_image(bboxes: Tensor, keypoints: Tensor, meta: dict) -> Tuple[Tensor, Tensor]:
    """Map network-input pixels back to the original image (inverse homography or scale).

    Args:
        bboxes (Tensor): (N, 4) xyxy in network-input pixels.
        keypoints (Tensor): (N, J, 2) in network-input pixels.
        meta (dict): Img meta with ``homography_matrix`` (or ``scale_factor``).

    Returns:
        tuple[Tensor, Tensor]: Boxes (projected corners' bounding boxes) and keypoints in
        original image pixels.
    """
    if meta.get('homography_matrix', None) is not None:
        homography = torch.as_tensor(np.asarray(meta['homography_matrix'], dtype=np.float64))
        inverse = torch.linalg.inv(homography).to(bboxes)
        return project_bboxes(bboxes, inverse), project_points(keypoints, inverse)
    if meta.get('scale_factor', None) is not None:
        scale = bboxes.new_tensor(np.asarray(meta['scale_factor'], dtype=np.float64)[:2])
        return bboxes / scale.repeat(2), keypoints / scale
    raise KeyError(f'DeepMarkHead: rescale=True needs homography_matrix or scale_factor in the '
                   f'img meta of {image_name(meta)}')
