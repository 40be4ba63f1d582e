# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's colour augmentation (brightness, contrast, saturation in random order + PCA
lighting) folded into one 3x4 colour matrix and applied to uint8 BGR images in one pass."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

from .image_layout import contiguous_image

#: Weights of OpenCV's BGR -> gray conversion, in BGR order.
BGR_GRAY_WEIGHTS = np.array([0.114, 0.587, 0.299])
#: ImageNet RGB-PCA eigenvalues/eigenvectors used by CenterNet's lighting noise (unit [0, 1]).
PCA_EIGENVALUES = np.array([0.2141788, 0.01817699, 0.00752097])
PCA_EIGENVECTORS = np.array([[-0.58752847, -0.69563484, 0.4134035],
                             [-0.5832747, 0.00994535, -0.81221408],
                             [-0.56089297, 0.71832671, 0.41158938]])
JITTER_OPS = ('brightness', 'contrast', 'saturation')


def color_jitter_matrix(channel_means: np.ndarray, factors: dict, order: Sequence[str],
                        lighting_shift: np.ndarray) -> np.ndarray:
    """Compose CenterNet's colour operations into ``y = M[:, :3] @ x + M[:, 3]``.

    Every step is linear in the pixel and in its gray value ``g(x) = w . x``, so the image after
    any sequence stays ``A x + B g(x) + C``:

    * brightness a: ``y -> a y``
    * contrast a: ``y -> a y + (1 - a) mean(g(y))``
    * saturation a: ``y -> a y + (1 - a) g(y)``
    * lighting: ``y -> y + shift``

    Args:
        channel_means (np.ndarray): (3,) mean of each BGR channel of the input image.
        factors (dict): Factor of each of ``brightness``, ``contrast``, ``saturation``.
        order (Sequence[str]): Order of the three operations.
        lighting_shift (np.ndarray): (3,) BGR offset added last, in pixel units.

    Returns:
        np.ndarray: (3, 4) float64 colour matrix for ``cv2.transform``.
    """
    gray_mean = float(BGR_GRAY_WEIGHTS @ np.asarray(channel_means, dtype=np.float64))
    scale_x, scale_gray, offset = 1.0, 0.0, np.zeros(3)
    for name in order:
        alpha = float(factors[name])
        if name == 'brightness':
            scale_x, scale_gray, offset = alpha * scale_x, alpha * scale_gray, alpha * offset
        elif name == 'contrast':
            mean_now = (scale_x + scale_gray) * gray_mean + BGR_GRAY_WEIGHTS @ offset
            scale_x, scale_gray = alpha * scale_x, alpha * scale_gray
            offset = alpha * offset + (1 - alpha) * mean_now
        elif name == 'saturation':
            gray_offset = BGR_GRAY_WEIGHTS @ offset
            scale_gray = alpha * scale_gray + (1 - alpha) * (scale_x + scale_gray)
            scale_x = alpha * scale_x
            offset = alpha * offset + (1 - alpha) * gray_offset
        else:
            raise ValueError(f'unknown colour operation {name!r}; use {JITTER_OPS}')
    offset = offset + np.asarray(lighting_shift, dtype=np.float64)
    matrix = np.zeros((3, 4))
    matrix[:, :3] = scale_x * np.eye(3) + scale_gray * BGR_GRAY_WEIGHTS[None, :]
    matrix[:, 3] = offset
    return matrix


@TRANSFORMS.register_module()
class CenterNetColorJitter(BaseTransform):
    """CenterNet's colour augmentation on uint8 BGR images (kept uint8, saturated).

    Brightness, contrast and saturation factors are ``1 + U(-v, v)`` in random order, followed by
    PCA lighting noise ``eigvec @ (eigval * N(0, lighting_std))`` (times 255). Equivalent to
    CenterNet's float implementation except for the final saturation to [0, 255], at a fraction of
    the cost (one ``cv2.transform`` pass).

    Required keys: ``img`` (uint8, BGR). Modified keys: ``img``.

    Args:
        brightness (float): Brightness variation v. Defaults to 0.4.
        contrast (float): Contrast variation v. Defaults to 0.4.
        saturation (float): Saturation variation v. Defaults to 0.4.
        lighting_std (float): Std of the PCA lighting noise. Defaults to 0.1.
        prob (float): Probability to apply. Defaults to 1.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.4,
                 lighting_std: float = 0.1,
                 prob: float = 1.0) -> None:
        self.variations = dict(brightness=brightness, contrast=contrast, saturation=saturation)
        self.lighting_std = lighting_std
        self.prob = prob

    @cache_randomness
    def _random_params(self) -> Tuple[bool, dict, list, np.ndarray]:
        apply = np.random.rand() < self.prob
        factors = {
            name: 1.0 + np.random.uniform(-variation, variation)
            for name, variation in self.variations.items()
        }
        order = [JITTER_OPS[i] for i in np.random.permutation(len(JITTER_OPS))]
        alpha = np.random.normal(scale=self.lighting_std, size=3)
        shift = 255.0 * (PCA_EIGENVECTORS @ (PCA_EIGENVALUES * alpha))
        return apply, factors, order, shift

    def transform(self, results: dict) -> dict:
        """Jitter ``results['img']``."""
        apply, factors, order, shift = self._random_params()
        if not apply:
            return results
        img = contiguous_image(results['img'])
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{results.get("img_path")}: CenterNetColorJitter needs a 3-channel '
                             f'BGR image, got shape {img.shape}')
        channel_means = np.asarray(cv2.mean(img)[:3])
        matrix = color_jitter_matrix(channel_means, factors, order, shift)
        results['img'] = cv2.transform(img, matrix)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(variations={self.variations}, '
                f'lighting_std={self.lighting_std}, prob={self.prob})')
