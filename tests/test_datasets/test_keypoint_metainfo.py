# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark metainfo schema: DeepFashion2 by default, any checked set otherwise."""
import json

import numpy as np
import pytest

from deepmark_mm.datasets import (check_keypoint_metainfo, get_deepfashion2_metainfo,
                                  resolve_keypoint_metainfo)
from toy_keypoint_set import toy_keypoint_metainfo
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, OKS_SIGMAS, flip_indices
from deepmark_mm.deployment.onnx_deepmark import read_keypoint_metadata
from deepmark_mm.deployment.onnx_export import keypoint_metadata_props


def test_default_is_deepfashion2():
    meta = resolve_keypoint_metainfo(None)
    assert len(meta['classes']) == 13 and meta['num_keypoints'] == 294
    assert meta['keypoint_slices'] == list(KEYPOINT_SLICES)
    np.testing.assert_array_equal(meta['flip_indices'], flip_indices())
    # the official sigmas exactly (float64), so DeepFashion2's OKS values do not move
    assert meta['sigmas'].dtype == np.float64 and meta['sigmas'].tolist() == list(OKS_SIGMAS)
    assert len(meta['skeletons']) == 13
    # DeepFashion2's dataset metainfo passes the validator unchanged
    assert check_keypoint_metainfo(get_deepfashion2_metainfo())['num_keypoints'] == 294


def test_toy_set_is_checked_and_normalised():
    meta = resolve_keypoint_metainfo(toy_keypoint_metainfo())
    assert meta['classes'] == ('square', 'hexagon', 'pentagon')
    assert meta['keypoint_slices'] == [(0, 4), (4, 10), (10, 15)] and meta['num_keypoints'] == 15
    flip = meta['flip_indices']
    assert flip.dtype == np.int64 and flip.tolist()[10] == 10  # the pentagon's top
    np.testing.assert_array_equal(flip[flip], np.arange(15))
    assert meta['skeletons'][2] == [(10, 11), (11, 12), (12, 13), (13, 14), (14, 10)]


def _toy(**changes):
    return dict(toy_keypoint_metainfo(), **changes)


@pytest.mark.parametrize('changes, message', [
    (dict(keypoint_slices=[[0, 4], [3, 10], [10, 15]]), r'tile the 15 slots \[0, 15\) exactly '
     r'once: slots \[3, 4\) belong to both square \(0, 4\) and hexagon \(3, 10\)'),
    (dict(keypoint_slices=[[0, 4], [5, 10], [10, 15]]), r'slots \[4, 5\) between square '
     r'\(0, 4\) and hexagon \(5, 10\) belong to no category'),
    (dict(keypoint_slices=[[0, 4], [4, 10], [10, 14]]), r'slots \[14, 15\) after pentagon '
     r'\(10, 14\) belong to no category'),
    (dict(keypoint_slices=[[0, 4], [4, 10]]), 'one \\[start, end\\) pair .* per class \\(3\\)'),
    (dict(flip_indices=[4, 1, 2, 3, 0] + list(range(5, 15))), r'flip pair \(0, 4\) crosses .*'
     r'square and hexagon'),
    (dict(flip_indices=[1, 2, 0] + list(range(3, 15))), 'its own inverse'),
    (dict(flip_indices=[0] * 15), 'permutation of the 15 slots'),
    (dict(flip_indices=list(range(14))), r'tile the 14 slots .*pentagon \(10, 15\) ends past'),
    (dict(sigmas=[0.05] * 14), '15 positive OKS sigmas .* got 14'),
    (dict(sigmas=[0.0] * 15), 'positive OKS sigmas'),
    (dict(skeletons=[[(0, 1)], [(4, 10)], []]), r'links \[\(4, 10\)\] of hexagon leave'),
    (dict(sigmas=None), r"missing \['sigmas'\]"),
])
def test_validator_names_the_broken_rule(changes, message):
    with pytest.raises(ValueError, match='my set: .*' + message):
        check_keypoint_metainfo(_toy(**changes), 'my set')


def _deepfashion2(**changes):
    return dict(get_deepfashion2_metainfo(), **changes)


@pytest.mark.parametrize('slices, message', [
    # the last slice stops at 290 of 294 slots: 290..293 belong to no category
    (list(KEYPOINT_SLICES[:-1]) + [(275, 290)], r'slots \[290, 294\) after sling_dress '
     r'\(275, 290\) belong to no category'),
    (list(KEYPOINT_SLICES[:-1]) + [(276, 294)], r'slots \[275, 276\) between vest_dress '
     r'\(256, 275\) and sling_dress \(276, 294\) belong to no category'),
    # an overlap that a gap elsewhere balances: the slot count stays 294
    ([(0, 30), (25, 58)] + list(KEYPOINT_SLICES[2:-1]) + [(275, 289)],
     r'slots \[25, 30\) belong to both short_sleeved_shirt \(0, 30\) and long_sleeved_shirt '
     r'\(25, 58\)'),
])
def test_deepfashion2_slices_that_do_not_tile_the_slots_are_refused(slices, message):
    """Gaps and overlaps name the categories and slots (before: a gap at the end was reported as
    wrong flip_indices, a balanced overlap as slots covered 0 or 2+ times)."""
    with pytest.raises(ValueError, match='DeepFashion2: keypoint_slices must tile the 294 slots '
                       r'\[0, 294\) exactly once: ' + message):
        check_keypoint_metainfo(_deepfashion2(keypoint_slices=slices), 'DeepFashion2')


def test_datasets_refuse_slices_that_do_not_tile(tmp_path):
    from deepmark_mm.datasets import DeepFashion2Dataset, KeypointCocoDataset
    gap = list(KEYPOINT_SLICES[:-1]) + [(275, 290)]
    with pytest.raises(ValueError, match=r'DeepFashion2Dataset metainfo: .*slots \[290, 294\)'):
        DeepFashion2Dataset._load_metainfo(dict(keypoint_slices=gap))
    with pytest.raises(ValueError, match=r'KeypointCocoDataset metainfo: .*slots \[3, 4\) '
                       'belong to both square'):
        KeypointCocoDataset._load_metainfo(_toy(keypoint_slices=[[0, 4], [3, 10], [10, 15]]))


def test_onnx_metadata_round_trip_and_deepfashion2_for_older_files():
    toy = resolve_keypoint_metainfo(toy_keypoint_metainfo())
    props = keypoint_metadata_props(toy)
    assert json.loads(props['keypoint_slices']) == [[0, 4], [4, 10], [10, 15]]
    back = read_keypoint_metadata(props, 'toy.onnx')
    assert back['classes'] == toy['classes'] and back['skeletons'] == toy['skeletons']
    np.testing.assert_array_equal(back['flip_indices'], toy['flip_indices'])
    np.testing.assert_array_equal(back['sigmas'], toy['sigmas'])
    old = read_keypoint_metadata({'input_hw': '64,64'}, 'old.onnx')
    assert len(old['classes']) == 13 and old['num_keypoints'] == 294
    deepfashion2 = read_keypoint_metadata(
        keypoint_metadata_props(resolve_keypoint_metainfo(None)), 'df2.onnx')
    assert deepfashion2['keypoint_names'][0] == get_deepfashion2_metainfo()['keypoint_names'][0]


def test_datasets_check_their_metainfo_override(tmp_path):
    from deepmark_mm.datasets import DeepFashion2Dataset, KeypointCocoDataset
    custom = DeepFashion2Dataset._load_metainfo(dict(sigmas=[0.07] * 294))
    assert custom['sigmas'].tolist() == pytest.approx([0.07] * 294)
    with pytest.raises(ValueError, match='DeepFashion2Dataset metainfo: sigmas must be 294'):
        DeepFashion2Dataset._load_metainfo(dict(sigmas=[0.07] * 15))
    annotation = dict(id=7, image_id=1, category_id=1, bbox=[0, 0, 4, 4], keypoints=[1] * 45)
    ann_file = tmp_path / 'toy.json'
    ann_file.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.png', width=8, height=8)], annotations=[annotation])))
    with pytest.raises(ValueError, match=r'toy\.json: image 1 \(a\.png\) annotation 7: keypoints '
                       r'slot 4 is set '
                       r'but category 1 \(square\) owns slots 0\.\.3'):
        KeypointCocoDataset(ann_file=str(ann_file), metainfo=toy_keypoint_metainfo(),
                            pipeline=[])
