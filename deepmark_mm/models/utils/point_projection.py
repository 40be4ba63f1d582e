# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Mapping predictions between image frames with a 3x3 homography (mmdet's ``new = H @ old``)."""
import torch
from torch import Tensor


def project_points(points: Tensor, homography: Tensor) -> Tensor:
    """Apply a homography to (x, y) points.

    Args:
        points (Tensor): (..., 2).
        homography (Tensor): (3, 3).

    Returns:
        Tensor: (..., 2) projected points.
    """
    matrix = homography.to(points)
    projected = points @ matrix[:2, :2].T + matrix[:2, 2]
    denominator = points @ matrix[2, :2] + matrix[2, 2]
    return projected / denominator.unsqueeze(-1)


def project_bboxes(bboxes: Tensor, homography: Tensor) -> Tensor:
    """Apply a homography to xyxy boxes: the tight box around the four projected corners.

    Args:
        bboxes (Tensor): (N, 4) xyxy.
        homography (Tensor): (3, 3).

    Returns:
        Tensor: (N, 4) xyxy.
    """
    x1, y1, x2, y2 = bboxes.unbind(-1)
    corners = torch.stack([
        torch.stack([x1, y1], -1),
        torch.stack([x2, y1], -1),
        torch.stack([x1, y2], -1),
        torch.stack([x2, y2], -1)
    ], dim=-2)  # (N, 4, 2)
    corners = project_points(corners, homography)
    return torch.cat([corners.amin(dim=-2), corners.amax(dim=-2)], dim=-1)
