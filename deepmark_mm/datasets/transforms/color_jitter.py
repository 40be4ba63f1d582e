# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's colour augmentation (brightness, contrast, saturation in random order + PCA
lighting) as one 3x4 colour matrix on BGR images (mmdet's ``PhotoMetricDistortion`` lacks the PCA
lighting and CenterNet's grey blends)."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS

from .formatting import contiguous_image

#: Weights of OpenCV's BGR -> gray conversion, in BGR order.
BGR_GRAY_WEIGHTS = np.array([0.114, 0.587, 0.299])
#: PCA eigenvalues of the lighting noise: CenterNet's (``coco_hp.py``) and this project's first
#: ones (third value differs; the default, used by the synthetic configs).
PCA_EIGENVALUE_SETS = dict(centernet=(0.2141788, 0.01817699, 0.00341571),
                           deepmark_v1=(0.2141788, 0.01817699, 0.00752097))
#: CenterNet's PCA eigenvectors (columns), applied to BGR pixels as CenterNet does.
PCA_EIGENVECTORS = np.array([[-0.58752847, -0.69563484, 0.4134035],
                             [-0.5832747, 0.00994535, -0.81221408],
                             [-0.56089297, 0.71832671, 0.41158938]])
JITTER_OPS = ('brightness', 'contrast', 'saturation')
#: What contrast and saturation blend against: the grey of the ``original`` image (CenterNet) or
#: of the ``current`` one, after the earlier operations (this project's first variant).
GRAY_REFERENCES = ('original', 'current')


def pca_lighting_shift(alpha: np.ndarray,
                       eigenvalues: Sequence[float] = PCA_EIGENVALUE_SETS['deepmark_v1']
                       ) -> np.ndarray:
    """(3,) BGR offset ``255 * eigvec @ (eigval * alpha)`` of (3,) ``alpha ~ N(0, std)``."""
    return 255.0 * (PCA_EIGENVECTORS @ (np.asarray(eigenvalues, dtype=np.float64) * alpha))


def color_jitter_matrix(channel_means: np.ndarray,
                        factors: dict,
                        order: Sequence[str],
                        lighting_shift: np.ndarray,
                        gray_reference: str = 'current') -> np.ndarray:
    """Compose CenterNet's colour operations into the (3, 4) float64 ``M``, ``y = M[:, :3] @ x +
    M[:, 3]``: brightness ``y -> a y``, contrast ``y -> a y + (1 - a) mean(g)``, saturation
    ``y -> a y + (1 - a) g`` with ``g`` the grey of the ``'original'`` (CenterNet's ``color_aug``)
    or ``'current'`` image, in ``order`` with ``factors`` a; ``channel_means`` (3,) are the
    input's BGR means, the (3,) ``lighting_shift`` is added last."""
    if gray_reference not in GRAY_REFERENCES:
        raise ValueError(f'gray_reference must be one of {GRAY_REFERENCES}, got {gray_reference!r}')
    gray_mean = float(BGR_GRAY_WEIGHTS @ np.asarray(channel_means, dtype=np.float64))
    scale_x, scale_gray, offset = 1.0, 0.0, np.zeros(3)
    for name in order:
        alpha = float(factors[name])
        if name == 'brightness':
            scale_x, scale_gray, offset = alpha * scale_x, alpha * scale_gray, alpha * offset
        elif gray_reference == 'original' and name == 'contrast':
            scale_x, scale_gray = alpha * scale_x, alpha * scale_gray
            offset = alpha * offset + (1 - alpha) * gray_mean
        elif gray_reference == 'original' and name == 'saturation':
            scale_gray = alpha * scale_gray + (1 - alpha)
            scale_x, offset = alpha * scale_x, alpha * offset
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
    """CenterNet's colour augmentation on BGR images, as one ``cv2.transform`` pass.

    Factors ``1 + U(-0.4, 0.4)`` in random order, then PCA lighting noise (``alpha ~ N(0, 0.1)``,
    CenterNet's). CenterNet's own
    ``color_aug`` (the DeepFashion2 paper configs) is ``gray_reference='original',
    pca_eigenvalues='centernet', to_float=True`` (float32, unclipped); the defaults are this
    project's first variant (synthetic configs): uint8 output saturated to [0, 255].

    Required keys: ``img`` (uint8, BGR). Modified keys: ``img``.

    Args:
        prob (float): Probability to apply.
        gray_reference (str): Blend against the grey of the ``'original'`` image (CenterNet) or
            of the ``'current'`` one.
        pca_eigenvalues (str | Sequence[float]): A key of ``PCA_EIGENVALUE_SETS`` or 3 values.
        to_float (bool): float32 without clipping instead of saturated uint8.
    """

    def __init__(self,
                 prob: float = 1.0,
                 gray_reference: str = 'current',
                 pca_eigenvalues: Union[str, Sequence[float]] = 'deepmark_v1',
                 to_float: bool = False) -> None:
        self.prob = prob
        if gray_reference not in GRAY_REFERENCES:
            raise ValueError(
                f'gray_reference must be one of {GRAY_REFERENCES}, got {gray_reference!r}')
        self.gray_reference = gray_reference
        if isinstance(pca_eigenvalues, str):
            if pca_eigenvalues not in PCA_EIGENVALUE_SETS:
                raise ValueError(f'pca_eigenvalues must be one of {list(PCA_EIGENVALUE_SETS)} or '
                                 f'three numbers, got {pca_eigenvalues!r}')
            pca_eigenvalues = PCA_EIGENVALUE_SETS[pca_eigenvalues]
        self.pca_eigenvalues = np.asarray(pca_eigenvalues, dtype=np.float64).reshape(3)
        self.to_float = to_float

    @cache_randomness
    def _random_params(self) -> Tuple[bool, dict, list, np.ndarray]:
        apply = np.random.rand() < self.prob
        factors = {name: 1.0 + np.random.uniform(-0.4, 0.4) for name in JITTER_OPS}
        order = [JITTER_OPS[i] for i in np.random.permutation(len(JITTER_OPS))]
        alpha = np.random.normal(scale=0.1, size=3)
        shift = pca_lighting_shift(alpha, self.pca_eigenvalues)
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
        matrix = color_jitter_matrix(channel_means, factors, order, shift, self.gray_reference)
        if self.to_float:
            img = img.astype(np.float32)
        results['img'] = cv2.transform(img, matrix)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, gray_reference={self.gray_reference!r}, '
                f'pca_eigenvalues={tuple(self.pca_eigenvalues)}, to_float={self.to_float})')
