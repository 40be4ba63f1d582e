# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The paper configs augment as CenterNet does; the first variant stays reachable by name.

Expected values are computed by hand from CenterNet's ``color_aug`` (``gs``/``gs_mean`` taken
once from the input) and ``multi_pose.py`` (``np.random.choice(np.arange(0.6, 1.4, 0.1))``).
"""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from deepmark_mm.datasets.transforms import CenterNetColorJitter, RandomCenterAffine
from deepmark_mm.datasets.transforms.color_jitter import pca_lighting_shift

REPO = Path(__file__).resolve().parents[2]
#: Two BGR pixels: grey 0.114 * 100 + 0.587 * 50 + 0.299 * 200 = 100.55, and 0; mean 50.275.
PIXELS = np.array([[[100, 50, 200], [0, 0, 0]]], dtype=np.uint8)
ORDER = ['brightness', 'saturation', 'contrast']
FACTORS = dict(brightness=1.2, saturation=1.1, contrast=0.8)
# original grey (CenterNet): x1.2 -> (120, 60, 240); sat: 1.1 y - 0.1 * 100.55;
# contrast: 0.8 y + 0.2 * 50.275 (= 10.055)
CENTERNET_EXPECTED = [[[107.611, 54.811, 213.211], [10.055, 10.055, 10.055]]]
# current grey: x1.2 -> grey 120.66; sat: 1.1 y - 0.1 * 120.66 (grey kept, mean 60.33);
# contrast: 0.8 y + 0.2 * 60.33 (= 12.066)
CURRENT_EXPECTED = [[[108.0132, 55.2132, 213.6132], [12.066, 12.066, 12.066]]]


def _jitter(transform, shift=np.zeros(3)):
    transform._random_params = lambda: (True, FACTORS, ORDER, shift)
    return transform(dict(img=PIXELS.copy()))['img']


def test_centernet_jitter_blends_against_the_original_grey_unclipped():
    out = _jitter(CenterNetColorJitter(gray_reference='original', to_float=True))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, CENTERNET_EXPECTED, atol=1e-4)


def test_first_variant_blends_against_the_current_grey_in_uint8():
    np.testing.assert_allclose(
        _jitter(CenterNetColorJitter(to_float=True)), CURRENT_EXPECTED, atol=1e-4)
    out = _jitter(CenterNetColorJitter())
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[108, 55, 214], [12, 12, 12]]])


def test_float_output_is_not_clipped():
    bright = dict(brightness=1.4, saturation=1.0, contrast=1.0)
    transform = CenterNetColorJitter(gray_reference='original', to_float=True)
    transform._random_params = lambda: (True, bright, ORDER, np.array([0., 0., -1.]))
    out = transform(dict(img=PIXELS.copy()))['img']
    np.testing.assert_allclose(out[0, 0], [140., 70., 279.], atol=1e-4)  # 200 * 1.4 - 1


def test_pca_lighting_uses_centernets_third_eigenvalue():
    # alpha on the third component only: 255 * 0.00341571 * eigvec[:, 2] (0.4134035,
    # -0.81221408, 0.41158938) = 0.87100605 * ... = (0.360077, -0.707443, 0.358497)
    alpha = np.array([0., 0., 1.])
    np.testing.assert_allclose(
        pca_lighting_shift(alpha, CenterNetColorJitter(pca_eigenvalues='centernet')
                           .pca_eigenvalues), [0.360077, -0.707443, 0.358497], atol=1e-6)
    # the first variant: 255 * 0.00752097 = 1.91784735
    np.testing.assert_allclose(
        pca_lighting_shift(alpha, CenterNetColorJitter().pca_eigenvalues),
        [0.792845, -1.557703, 0.789366], atol=1e-6)
    with pytest.raises(ValueError, match='pca_eigenvalues'):
        CenterNetColorJitter(pca_eigenvalues='imagenet')


def _scale_factors(transform, draws=400):
    np.random.seed(0)
    return [transform._center_and_scale(100, 50)[1] / 100 for _ in range(draws)]


def test_random_scale_is_drawn_from_centernets_eight_values():
    transform = RandomCenterAffine(
        input_size=64, scale_choices=(0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3))
    factors = np.round(_scale_factors(transform), 6)
    values, counts = np.unique(factors, return_counts=True)
    np.testing.assert_array_equal(values, [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3])
    assert counts.min() > 25  # 50 expected each
    uniform = np.array(_scale_factors(RandomCenterAffine(input_size=64)))
    assert len(np.unique(uniform)) == 400 and 0.6 <= uniform.min() and uniform.max() < 1.4
    assert (uniform > 1.3).any()  # the first variant reaches beyond CenterNet's 1.3


def test_paper_configs_use_centernets_augmentation_and_synthetic_keeps_the_first_variant():
    steps = {
        name: {s['type']: s for s in Config.fromfile(
            str(REPO / 'configs' / '_base_' / 'datasets' / name)).train_pipeline}
        for name in ('deepfashion2.py', 'synthetic_deepfashion2.py')
    }
    paper, synthetic = steps['deepfashion2.py'], steps['synthetic_deepfashion2.py']
    jitter = CenterNetColorJitter(**{k: v for k, v in paper['CenterNetColorJitter'].items()
                                     if k != 'type'})
    assert (jitter.gray_reference, jitter.to_float) == ('original', True)
    np.testing.assert_array_equal(jitter.pca_eigenvalues, [0.2141788, 0.01817699, 0.00341571])
    assert paper['RandomCenterAffine']['scale_choices'] == (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2,
                                                            1.3)
    assert synthetic['CenterNetColorJitter'] == dict(type='CenterNetColorJitter')
    assert 'scale_choices' not in synthetic['RandomCenterAffine']
