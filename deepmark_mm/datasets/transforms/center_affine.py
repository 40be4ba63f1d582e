# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's affine input warp: random centre/scale for training, fixed for testing."""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.image.geometric import cv2_interp_codes
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type

from deepmark_mm.structures import BBoxKeypoints
from .center_affine_matrix import (center_scale_affine_matrix, centernet_border, pixel_index_matrix,
                                   resize_paste_warp)
from .image_layout import contiguous_image


def _as_size(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """int or (w, h) -> (w, h)."""
    if isinstance(size, int):
        return size, size
    width, height = size
    return int(width), int(height)


@TRANSFORMS.register_module()
class CenterAffine(BaseTransform):
    """Deterministic CenterNet test warp: centre = image centre, scale = max(h, w).

    The whole image is fitted, aspect kept, into ``input_size`` (borders filled with
    ``border_value``). Bilinear warps run as crop + ``cv2.resize`` + paste
    (:func:`resize_paste_warp`, about twice as fast as ``cv2.warpAffine``); the map actually
    applied (within a pixel of CenterNet's) is the one recorded in ``homography_matrix``.
    Coordinates are continuous (pixel ``i`` covers ``[i, i + 1)``), as mmdet's ``RandomFlip``
    (``x' = W - x``) and ``Resize`` use them. Boxes are projected through their 4 corners and
    clipped; landmarks are projected and those outside the input become unlabelled; boxes that
    collapse below ``min_box_size`` are dropped with their landmarks, labels and ignore flags.

    Required keys: ``img``. Optional: ``gt_bboxes`` (:class:`BBoxKeypoints` or any box type),
    ``gt_bboxes_labels``, ``gt_ignore_flags``, ``homography_matrix``.

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``. Added keys: ``homography_matrix`` (3x3 float32, original -> input pixels,
    composed with any earlier one), ``scale_factor`` (w, h ratio of the warp),
    ``affine_center``, ``affine_scale``.

    Args:
        input_size (int | tuple[int, int]): Output (w, h). Defaults to 512.
        border_value (float | tuple): Fill of the area outside the source. Defaults to 0.
        interpolation (str): A key of mmcv's ``cv2_interp_codes`` (``bilinear``, ...).
        min_box_size (float): Boxes narrower or lower than this after clipping are dropped.
            Defaults to 1.
        clip_object_border (bool): Clip boxes to the input. Landmarks outside the input become
            unlabelled either way. Defaults to True.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = 512,
                 border_value: Union[float, Sequence[float]] = 0,
                 interpolation: str = 'bilinear',
                 min_box_size: float = 1.0,
                 clip_object_border: bool = True) -> None:
        if interpolation not in cv2_interp_codes:
            raise ValueError(f'interpolation must be one of {list(cv2_interp_codes)}')
        self.input_size = _as_size(input_size)
        self.border_value = border_value
        self.interpolation = interpolation
        self.min_box_size = min_box_size
        self.clip_object_border = clip_object_border

    def _center_and_scale(self, height: int, width: int) -> Tuple[Tuple[float, float], float]:
        """(centre, scale) of the source square."""
        return (width / 2., height / 2.), float(max(height, width))

    @autocast_box_type()
    def transform(self, results: dict) -> Optional[dict]:
        """Warp the image and move boxes/landmarks with it."""
        img = contiguous_image(results['img'])
        height, width = img.shape[:2]
        center, scale = self._center_and_scale(height, width)
        matrix = center_scale_affine_matrix(center, scale, self.input_size)
        border_value = self.border_value
        if not isinstance(border_value, (int, float)):
            border_value = tuple(float(value) for value in border_value)
        if self.interpolation == 'bilinear' and isinstance(border_value, (int, float)):
            results['img'], matrix = resize_paste_warp(img, matrix, self.input_size, border_value)
        else:
            results['img'] = cv2.warpAffine(
                img,
                pixel_index_matrix(matrix)[:2],
                self.input_size,
                flags=cv2_interp_codes[self.interpolation],
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=border_value)
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
        if self.clip_object_border:
            boxes.clip_(shape)
        elif isinstance(boxes, BBoxKeypoints):
            boxes.unlabel_outside_(shape)
        keep = ((boxes.widths >= self.min_box_size) & (boxes.heights >= self.min_box_size)).numpy()
        results['gt_bboxes'] = boxes[keep]
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key, None) is not None:
                results[key] = results[key][keep]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'border_value={self.border_value}, interpolation={self.interpolation}, '
                f'min_box_size={self.min_box_size})')


@TRANSFORMS.register_module()
class RandomCenterAffine(CenterAffine):
    """CenterNet training warp: random scale and random centre, then :class:`CenterAffine`.

    ``scale = max(h, w) * s`` and the centre is drawn uniformly (integer pixels, as CenterNet)
    from ``[b_w, w - b_w) x [b_h, h - b_h)`` with CenterNet's border rule (``border`` halved
    until it fits the image side). ``s`` is drawn from ``scale_choices`` when given (CenterNet:
    ``np.random.choice(np.arange(0.6, 1.4, 0.1))``, the DeepFashion2 paper configs), else
    uniformly from ``scale_range`` (this project's first variant, the synthetic configs).

    Args:
        input_size (int | tuple[int, int]): Output (w, h). Defaults to 512.
        scale_range (tuple[float, float]): Uniform random scale factor range, used when
            ``scale_choices`` is None. Defaults to (0.6, 1.4).
        border (int): CenterNet's crop border. Defaults to 128.
        scale_choices (Sequence[float], optional): Scale factors drawn with equal probability.
            Defaults to None.
        **kwargs: :class:`CenterAffine` arguments.
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
