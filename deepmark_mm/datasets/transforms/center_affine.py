# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's affine input warp (random centre / scale for training, fixed for testing) in
continuous coordinates (pixel ``i`` covers ``[i, i + 1)``, as mmdet's boxes and flips)."""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type

from .formatting import contiguous_image


def center_scale_affine_matrix(center: Tuple[float, float], scale: float,
                               output_size: Tuple[int, int]) -> np.ndarray:
    """(3, 3) float64 similarity mapping a square of side ``scale`` around ``center`` onto the
    (width, height) output: CenterNet's ``get_affine_transform(center, scale, 0, output_size)``."""
    if scale <= 0:
        raise ValueError(f'scale must be positive, got {scale}')
    out_w, out_h = output_size
    ratio = out_w / scale
    return np.array([[ratio, 0., out_w / 2 - ratio * center[0]],
                     [0., ratio, out_h / 2 - ratio * center[1]],
                     [0., 0., 1.]], dtype=np.float64)


def centernet_border(border: int, size: int) -> int:
    """CenterNet's crop border: ``border`` halved until the centre fits ``[b, size - b)``."""
    divisor = 1
    while size - border // divisor <= border // divisor:
        divisor *= 2
        if border // divisor == 0:
            return 0
    return border // divisor


def resize_paste_warp(img: np.ndarray, matrix: np.ndarray, output_size: Tuple[int, int],
                      border_value: Union[float, Sequence[float]] = 0
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """Apply a positive scale + translation ``matrix`` (3, 3) by crop, bilinear ``cv2.resize``,
    paste (mmcv / cv2 offer only the general warp); ``border_value`` fills the rest.

    Returns:
        tuple[np.ndarray, np.ndarray]: The (h, w[, C]) output and the (3, 3) float64 map it
        realises (integer crop / paste positions move it by under a pixel): the one to record.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix[0, 1] != 0 or matrix[1, 0] != 0 or (matrix[2] != (0, 0, 1)).any() or \
            matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise ValueError('resize_paste_warp only handles positive scale + translation')
    out_w, out_h = output_size
    out = np.empty((out_h, out_w) + img.shape[2:], dtype=img.dtype)
    out[...] = border_value
    actual = matrix.copy()
    spans = []
    for axis, (src_len, dst_len) in enumerate(((img.shape[1], out_w), (img.shape[0], out_h))):
        scale, shift = matrix[axis, axis], matrix[axis, 2]
        low = max(0, int(np.floor(-shift / scale)))
        high = min(src_len, int(np.ceil((dst_len - shift) / scale)))
        start = int(np.clip(np.rint(scale * low + shift), 0, dst_len))
        stop = int(np.clip(np.rint(scale * high + shift), 0, dst_len))
        if high <= low or stop <= start:
            return out, matrix
        realised = (stop - start) / (high - low)
        actual[axis, axis] = realised
        actual[axis, 2] = start - realised * low
        spans.append((low, high, start, stop))
    (x0, x1, u0, u1), (y0, y1, v0, v1) = spans
    resized = cv2.resize(img[y0:y1, x0:x1], (u1 - u0, v1 - v0), interpolation=cv2.INTER_LINEAR)
    out[v0:v1, u0:u1] = resized.reshape((v1 - v0, u1 - u0) + img.shape[2:])
    return out, actual


@TRANSFORMS.register_module()
class CenterAffine(BaseTransform):
    """Deterministic CenterNet test warp: the whole image fitted, aspect kept, into
    ``input_size`` (centre = image centre, scale = max(h, w)); boxes are clipped to it (landmarks
    outside become unlabelled), those under 1 pixel wide or high go with their labels and flags.

    Required keys: ``img``; optional ``gt_bboxes`` (any box type), ``gt_bboxes_labels``,
    ``gt_ignore_flags``, ``homography_matrix`` (composed with). Modified / added: those,
    ``img_shape``, ``scale_factor``, ``affine_center``, ``affine_scale``.

    Args:
        input_size (int | tuple[int, int]): Output (w, h).
        border_value (float | tuple): Fill outside the source.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = 512,
                 border_value: Union[float, Sequence[float]] = 0) -> None:
        self.input_size = (input_size, input_size) if isinstance(input_size, int) else \
            tuple(int(v) for v in input_size)
        self.border_value = border_value

    def _center_and_scale(self, height: int, width: int) -> Tuple[Tuple[float, float], float]:
        return (width / 2., height / 2.), float(max(height, width))

    @autocast_box_type()
    def transform(self, results: dict) -> Optional[dict]:
        """Warp the image and move boxes/landmarks with it."""
        img = contiguous_image(results['img'])
        height, width = img.shape[:2]
        center, scale = self._center_and_scale(height, width)
        matrix = center_scale_affine_matrix(center, scale, self.input_size)
        results['img'], matrix = resize_paste_warp(img, matrix, self.input_size,
                                                   self.border_value)
        out_w, out_h = self.input_size
        results['img_shape'] = (out_h, out_w)
        results['scale_factor'] = (float(matrix[0, 0]), float(matrix[1, 1]))
        results['affine_center'] = center
        results['affine_scale'] = scale
        homography = matrix.astype(np.float32)
        previous = results.get('homography_matrix', None)
        results['homography_matrix'] = homography if previous is None else \
            (homography @ previous).astype(np.float32)
        if results.get('gt_bboxes', None) is not None:
            self._move_instances(results, matrix, (out_h, out_w))
        return results

    def _move_instances(self, results: dict, matrix: np.ndarray, shape: Tuple[int, int]) -> None:
        boxes = results['gt_bboxes']
        boxes.project_(matrix)
        boxes.clip_(shape)
        keep = ((boxes.widths >= 1) & (boxes.heights >= 1)).numpy()
        results['gt_bboxes'] = boxes[keep]
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key, None) is not None:
                results[key] = results[key][keep]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'border_value={self.border_value})')


@TRANSFORMS.register_module()
class RandomCenterAffine(CenterAffine):
    """CenterNet training warp: random scale and random centre, then :class:`CenterAffine`.

    ``scale = max(h, w) * s``, ``s`` drawn from ``scale_choices`` when given (CenterNet's, the
    paper configs) else uniformly from ``scale_range``; the centre is an integer pixel drawn
    uniformly inside :func:`centernet_border` of ``border``. ``**kwargs``: :class:`CenterAffine`'s.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = 512,
                 scale_range: Tuple[float, float] = (0.6, 1.4),
                 border: int = 128,
                 scale_choices: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        super().__init__(input_size=input_size, **kwargs)
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'scale_range must be 0 < low <= high, got {scale_range}')
        if scale_choices is not None and (len(scale_choices) == 0 or min(scale_choices) <= 0):
            raise ValueError(f'scale_choices must be positive numbers, got {scale_choices}')
        self.scale_range = tuple(scale_range)
        self.scale_choices = None if scale_choices is None else tuple(map(float, scale_choices))
        self.border = border

    @cache_randomness
    def _center_and_scale(self, height: int, width: int) -> Tuple[Tuple[float, float], float]:
        factor = np.random.uniform(*self.scale_range) if self.scale_choices is None else \
            self.scale_choices[np.random.randint(len(self.scale_choices))]
        scale = max(height, width) * factor
        border_w = centernet_border(self.border, width)
        border_h = centernet_border(self.border, height)
        center_x = np.random.randint(border_w, max(width - border_w, border_w + 1))
        center_y = np.random.randint(border_h, max(height - border_h, border_h + 1))
        return (float(center_x), float(center_y)), float(scale)

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', scale_range={self.scale_range}, '
                f'scale_choices={self.scale_choices}, border={self.border})')
