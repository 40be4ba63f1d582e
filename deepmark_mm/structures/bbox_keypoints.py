# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Horizontal boxes that carry their garments' landmarks through every mmdet box transform
(mmdet's boxes carry no keypoints; mmpose's yolox_pose ``BBoxKeypoints`` is not installed)."""
from typing import Optional, Sequence, Tuple, Type, TypeVar, Union

import cv2
import numpy as np
import torch
from mmdet.structures.bbox import HorizontalBoxes
from torch import Tensor

from deepmark_mm.datasets.keypoint_metainfo import check_flip_indices

T = TypeVar('T')
DeviceType = Union[str, torch.device]
ArrayLike = Union[Tensor, np.ndarray, Sequence]


def _as_tensor(data: Optional[ArrayLike], dtype: torch.dtype, device: torch.device,
               shape: Tuple[int, ...]) -> Tensor:
    """``data`` as a tensor of ``dtype`` on ``device``; None / empty -> zeros of ``shape``."""
    if data is None:
        return torch.zeros(shape, dtype=dtype, device=device)
    tensor = torch.as_tensor(data).to(dtype=dtype, device=device)
    return tensor.reshape(shape) if tensor.numel() == 0 else tensor


class BBoxKeypoints(HorizontalBoxes):
    """:class:`HorizontalBoxes` (N, 4) xyxy plus each box's landmarks.

    Indexing (including the validity masks of mmdet's ``RandomCrop`` / ``RandomCenterCropPad`` /
    ``RandomAffine``), concatenation, flipping, translating, rescaling, resizing, rotating,
    projecting and clipping act on boxes and landmarks alike. Invariant: a slot with visibility 0
    has coordinates (0, 0); slots that leave the image in :meth:`clip_` become visibility 0.

    Args:
        data (Tensor | np.ndarray | Sequence): Boxes (N, 4) xyxy.
        keypoints (optional): (N, K, 2) landmarks; None -> zeros.
        keypoints_visible (optional): (N, K) in {0, 1, 2}; None -> 2 where ``keypoints`` is
            given, else 0.
        flip_indices (optional): (K,) slot each slot moves to under a horizontal flip (its own
            inverse); None -> identity.
        dtype, device, clone: ``HorizontalBoxes``'. Floating landmarks follow ``dtype``.
    """

    def __init__(self,
                 data: ArrayLike,
                 keypoints: Optional[ArrayLike] = None,
                 keypoints_visible: Optional[ArrayLike] = None,
                 flip_indices: Optional[ArrayLike] = None,
                 dtype: Optional[torch.dtype] = None,
                 device: Optional[DeviceType] = None,
                 clone: bool = True) -> None:
        super().__init__(data, dtype=dtype, device=device, clone=clone)
        if self.tensor.dim() != 2:
            raise ValueError(
                f'BBoxKeypoints holds (N, 4) boxes, got shape {tuple(self.tensor.shape)}')
        num_boxes, device = self.tensor.size(0), self.tensor.device
        float_dtype = self.tensor.dtype if self.tensor.is_floating_point() else torch.float32
        if keypoints is not None and torch.as_tensor(keypoints).numel() > 0:
            num_keypoints = torch.as_tensor(keypoints).shape[-2]
        else:
            num_keypoints = 0 if flip_indices is None else len(flip_indices)
        kpts = _as_tensor(keypoints, float_dtype, device, (num_boxes, num_keypoints, 2))
        if keypoints_visible is None:
            visible = torch.full((num_boxes, num_keypoints), 2 if keypoints is not None else 0,
                                 dtype=torch.long, device=device)
        else:
            visible = _as_tensor(keypoints_visible, torch.long, device, (num_boxes, num_keypoints))
        if clone:
            kpts, visible = kpts.clone(), visible.clone()
        if kpts.shape != (num_boxes, num_keypoints, 2) or visible.shape != kpts.shape[:2]:
            raise ValueError(
                f'BBoxKeypoints: {num_boxes} boxes need keypoints ({num_boxes}, {num_keypoints}, '
                f'2) and keypoints_visible ({num_boxes}, {num_keypoints}), got '
                f'{tuple(kpts.shape)} and {tuple(visible.shape)}')
        flip = torch.arange(num_keypoints, device=device) if flip_indices is None else \
            torch.tensor(check_flip_indices(flip_indices, num_keypoints, 'BBoxKeypoints'),
                         device=device)
        self.keypoints, self.keypoints_visible, self.flip_indices = kpts, visible, flip
        self._zero_unlabelled()

    def _zero_unlabelled(self) -> None:
        """Keep the invariant: visibility 0 <=> coordinates (0, 0)."""
        self.keypoints = self.keypoints * (self.keypoints_visible > 0).unsqueeze(-1).to(
            self.keypoints.dtype)

    def _new(self: T, boxes: Tensor, keypoints: Tensor, keypoints_visible: Tensor,
             flip_indices: Optional[Tensor] = None) -> T:
        """Same type around already consistent tensors (no copy, no validation)."""
        other = type(self).__new__(type(self))
        other.tensor, other.keypoints, other.keypoints_visible = boxes, keypoints, \
            keypoints_visible
        other.flip_indices = self.flip_indices if flip_indices is None else flip_indices
        return other

    def __getitem__(self: T, index) -> T:
        """Index boxes and their landmarks alike (int, slice, 1-D mask, indices)."""
        if isinstance(index, np.ndarray):
            index = torch.as_tensor(index, device=self.device)
        if isinstance(index, tuple):
            if len(index) != 1:
                raise IndexError('BBoxKeypoints can only be indexed along the box dimension')
            index = index[0]
        if isinstance(index, Tensor) and index.dtype == torch.bool and index.dim() != 1:
            raise IndexError('BBoxKeypoints boolean index must be 1-D (one flag per box)')
        boxes = self.tensor[index].reshape(-1, 4)
        shape = (boxes.shape[0], ) + tuple(self.keypoints.shape[1:])  # K may be 0: no -1
        return self._new(boxes, self.keypoints[index].reshape(shape),
                         self.keypoints_visible[index].reshape(shape[:2]))

    def __setitem__(self, index, values: 'BBoxKeypoints') -> None:
        """Overwrite boxes and their landmarks at ``index``."""
        self.tensor[index] = values.tensor
        self.keypoints[index] = values.keypoints
        self.keypoints_visible[index] = values.keypoints_visible

    def clone(self: T) -> T:
        """Copy of boxes, landmarks, visibility and flip indices."""
        return self._new(self.tensor.clone(), self.keypoints.clone(),
                         self.keypoints_visible.clone(), self.flip_indices.clone())

    def __deepcopy__(self, memo):
        memo[id(self)] = other = self.clone()
        return other

    def empty_boxes(self: T, dtype: Optional[torch.dtype] = None,
                    device: Optional[DeviceType] = None) -> T:
        """Zero boxes with the same number of landmark slots."""
        return self[:0].to(device=device or self.device, dtype=dtype or self.dtype)

    def to(self: T, *args, **kwargs) -> T:
        """Move to a device / cast boxes (floating landmarks follow a floating box dtype)."""
        boxes = self.tensor.to(*args, **kwargs)
        keypoints = self.keypoints.to(device=boxes.device, dtype=boxes.dtype if
                                      boxes.is_floating_point() else self.keypoints.dtype)
        return self._new(boxes, keypoints, self.keypoints_visible.to(boxes.device),
                         self.flip_indices.to(boxes.device))

    def cpu(self: T) -> T:
        return self.to('cpu')

    def cuda(self: T, *args, **kwargs) -> T:
        return self.to(self.tensor.cuda(*args, **kwargs).device)

    def detach(self: T) -> T:
        return self._new(self.tensor.detach(), self.keypoints.detach(), self.keypoints_visible)

    def _not_for_keypoints(self, *args, **kwargs):
        raise NotImplementedError(
            'BBoxKeypoints is a flat (N, 4) box list tied to (N, K, 2) landmarks; reshaping, '
            'splitting and stacking are not supported (index or cat it, or use .tensor).')

    view = reshape = expand = repeat = transpose = permute = _not_for_keypoints
    unbind = flatten = squeeze = unsqueeze = stack = split = chunk = _not_for_keypoints

    @classmethod
    def cat(cls: Type[T], box_list: Sequence[T], dim: int = 0) -> T:
        """Concatenate along the box dimension (all parts must share ``flip_indices``)."""
        if dim != 0:
            raise ValueError('BBoxKeypoints can only be concatenated along the box dimension')
        flip = box_list[0].flip_indices
        if not all(torch.equal(boxes.flip_indices, flip) for boxes in box_list):
            raise ValueError('cannot concatenate BBoxKeypoints with different flip_indices')
        return box_list[0]._new(torch.cat([boxes.tensor for boxes in box_list]),
                                torch.cat([boxes.keypoints for boxes in box_list]),
                                torch.cat([boxes.keypoints_visible for boxes in box_list]))

    def flip_(self, img_shape: Tuple[int, int], direction: str = 'horizontal') -> None:
        """Flip boxes and landmarks in place on an (H, W) image; a horizontal (or diagonal) flip
        also moves every slot to its mirror slot (``flip_indices``)."""
        super().flip_(img_shape, direction)
        height, width = img_shape[:2]
        keypoints, visible = self.keypoints.clone(), self.keypoints_visible
        if direction in ('vertical', 'diagonal'):
            keypoints[..., 1] = height - keypoints[..., 1]
        if direction in ('horizontal', 'diagonal'):
            keypoints[..., 0] = width - keypoints[..., 0]
            keypoints, visible = keypoints[:, self.flip_indices], visible[:, self.flip_indices]
        self.keypoints, self.keypoints_visible = keypoints, visible
        self._zero_unlabelled()

    def translate_(self, distances: Tuple[float, float]) -> None:
        """Shift boxes and landmarks by (dx, dy) in place."""
        super().translate_(distances)
        self.keypoints = self.keypoints + self.keypoints.new_tensor(distances)
        self._zero_unlabelled()

    def clip_(self, img_shape: Tuple[int, int]) -> None:
        """Clip boxes to the (H, W) image; landmarks outside it become visibility 0."""
        super().clip_(img_shape)
        self.unlabel_outside_(img_shape)

    def unlabel_outside_(self, img_shape: Tuple[int, int]) -> None:
        """Set visibility 0 (and coordinates 0) on landmarks outside [0, W] x [0, H]."""
        height, width = img_shape[:2]
        x, y = self.keypoints[..., 0], self.keypoints[..., 1]
        inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
        self.keypoints_visible = torch.where(inside, self.keypoints_visible,
                                             torch.zeros_like(self.keypoints_visible))
        self._zero_unlabelled()

    def rotate_(self, center: Tuple[float, float], angle: float) -> None:
        """Rotate boxes (corners' hull) and landmarks about ``center`` (mmdet's convention)."""
        self.project_(np.vstack([cv2.getRotationMatrix2D(tuple(map(float, center)), -angle, 1),
                                 [0., 0., 1.]]))

    def project_(self, homography_matrix: Union[Tensor, np.ndarray]) -> None:
        """Apply a (3, 3) homography to boxes (hull of projected corners) and landmarks."""
        matrix = np.asarray(homography_matrix.detach().cpu() if isinstance(
            homography_matrix, Tensor) else homography_matrix, dtype=np.float64)
        if matrix[0, 1] == 0 and matrix[1, 0] == 0 and matrix[0, 0] > 0 and matrix[1, 1] > 0 \
                and (matrix[2] == (0, 0, 1)).all():
            # scale + translation (every CenterNet warp): corners stay corners
            scale = self.tensor.new_tensor([matrix[0, 0], matrix[1, 1]])
            shift = self.tensor.new_tensor([matrix[0, 2], matrix[1, 2]])
            self.tensor = self.tensor * scale.repeat(2) + shift.repeat(2)
            self.keypoints = self.keypoints * scale.to(self.keypoints.dtype) + shift.to(
                self.keypoints.dtype)
            self._zero_unlabelled()
            return
        super().project_(matrix)
        homography = torch.as_tensor(matrix, dtype=self.keypoints.dtype,
                                     device=self.keypoints.device)
        ones = self.keypoints.new_ones(*self.keypoints.shape[:-1], 1)
        projected = torch.cat([self.keypoints, ones], dim=-1) @ homography.T
        self.keypoints = projected[..., :2] / projected[..., 2:3]
        self._zero_unlabelled()

    def rescale_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale coordinates of boxes and landmarks by (sx, sy) in place."""
        super().rescale_(scale_factor)
        self.keypoints = self.keypoints * self.keypoints.new_tensor(scale_factor)
        self._zero_unlabelled()

    def resize_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale box sizes about their centres; landmarks scale about their box's centre."""
        centers = self.centers.clone()
        super().resize_(scale_factor)
        offsets = (self.keypoints - centers[:, None]) * self.keypoints.new_tensor(scale_factor)
        self.keypoints = centers[:, None] + offsets
        self._zero_unlabelled()
