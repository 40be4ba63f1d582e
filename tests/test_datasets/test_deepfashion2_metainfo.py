# Copyright (c) deepmark_mm contributors. All rights reserved.
import json

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                                        OKS_SIGMAS, flip_indices,
                                                        get_deepfashion2_metainfo)


def test_flip_indices_match_the_per_category_spec_pairs(category_spec):
    expected = np.arange(294)
    for category in category_spec['categories']:
        start = category['global_start_0based']
        for a, b in category['flip_pairs_1based_local']:
            expected[start + a - 1], expected[start + b - 1] = start + b - 1, start + a - 1
    np.testing.assert_array_equal(flip_indices(), expected)


def test_slices_names_and_sigmas_match_the_spec(category_spec, samples_dir):
    for label, category in enumerate(category_spec['categories']):
        assert category['category_id'] == label + 1
        assert CLASSES[label] == category['coco_name']
        assert CATEGORY_NAMES[label] == category['category_name']
        assert KEYPOINT_SLICES[label] == (category['global_start_0based'],
                                          category['global_end_exclusive'])
        assert category['num_landmarks'] == KEYPOINT_SLICES[label][1] - KEYPOINT_SLICES[label][0]
    sigmas = json.loads((samples_dir / 'spec' / 'kpt_oks_sigmas_294.json').read_text())
    np.testing.assert_array_equal(np.asarray(OKS_SIGMAS), np.asarray(sigmas))


def test_dataset_metainfo_contents():
    meta = get_deepfashion2_metainfo()
    assert len(meta['keypoint_names']) == 294 and len(meta['sigmas']) == 294
    assert len(meta['skeletons']) == 13
    owner = meta['keypoint_category']
    for label, links in enumerate(meta['skeletons']):
        assert links and all(owner[a] == label and owner[b] == label for a, b in links)


def test_flip_indices_refuse_a_pair_across_categories(monkeypatch):
    from deepmark_mm.datasets import deepfashion2_metainfo
    crossing = dict(flip_indices=[25] + list(range(1, 294)))  # slot 0 <-> slot 25 (next category)
    monkeypatch.setattr(deepfashion2_metainfo, 'mmpose_deepfashion2_metainfo', lambda: crossing)
    with pytest.raises(ValueError, match=r'mmpose deepfashion2 swap: flip pair \(0, 25\) crosses '
                       'categories short_sleeved_shirt and long_sleeved_shirt'):
        flip_indices.__wrapped__()
