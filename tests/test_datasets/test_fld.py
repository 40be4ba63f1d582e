# Copyright (c) deepmark_mm contributors. All rights reserved.
"""FLD: the 18-slot metainfo, ``FLDDataset`` on mmpose's fixture and the lab photos' converter.

Real data from ``../shared/fashion-landmarks`` (skipped when absent); outputs go to tmp paths.
"""
import copy
import csv
import json
import os.path as osp
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmengine.dataset import ConcatDataset
from mmengine.registry import DefaultScope

from deepmark_mm.datasets import check_keypoint_metainfo
from deepmark_mm.datasets.deepfashion2_metainfo import (CATEGORY_NAMES, KEYPOINT_SLICES,
                                                        OKS_SIGMAS)
from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
from deepmark_mm.datasets.fld_dataset import FLDDataset
from deepmark_mm.datasets.fld_dataset import get_fld_metainfo

SHARED = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'fashion-landmarks'
CONVERTER = 'tools/dataset_converters/fld_lab_photos_to_coco.py'
TYPES = ('upper_body', 'lower_body', 'full_body')
#: The lab CSV's landmark code of each slot (``lm_<code>_x``), written out by hand.
UPPER_SLOT_CODES = {0: 'lc', 1: 'rc', 2: 'ls', 3: 'rs', 4: 'lh', 5: 'rh'}
LOWER_SLOT_CODES = {6: 'lw', 7: 'rw', 8: 'lh', 9: 'rh'}


def shared_folder(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f'{path} is not available')
    return path.resolve()


@pytest.fixture(scope='module')
def fixture_dir() -> Path:
    """mmpose's FLD test fixture (test_fld.json + 2 images)."""
    return shared_folder('fld_mmpose_fixture')


@pytest.fixture(scope='module')
def fixture_coco(fixture_dir) -> Dict:
    return json.loads((fixture_dir / 'test_fld.json').read_text())


@pytest.fixture(scope='module')
def lab_dir() -> Path:
    return shared_folder('fld_lab_photos')


@pytest.fixture(scope='module')
def lab_rows(lab_dir) -> List[Dict[str, str]]:
    """labels.csv rows in sorted file-name order."""
    with open(lab_dir / 'labels.csv', newline='') as file:
        return sorted(csv.DictReader(file), key=lambda row: row['image_name'])


@pytest.fixture(scope='module')
def converted(lab_dir, load_tool, tmp_path_factory):
    """(out_dir, returned dicts) of the converter run once on the lab photos."""
    out_dir = tmp_path_factory.mktemp('fld_lab')
    files = load_tool(CONVERTER).convert(str(lab_dir), str(out_dir), num_train=90)
    return out_dir, files


def row_point(row: Dict[str, str], code: str) -> List[float]:
    return [float(row[f'lm_{code}_x']), float(row[f'lm_{code}_y'])]


def fld(ann_file, img_dir, **kwargs) -> FLDDataset:
    """An FLDDataset, not serialized unless asked (mmengine's gc.collect costs 0.3 s each)."""
    kwargs.setdefault('serialize_data', False)
    return FLDDataset(ann_file=str(ann_file), data_prefix=dict(img=str(img_dir)), test_mode=True,
                      **kwargs)


# ----------------------------------------------------------------------------------- metainfo
def test_metainfo_passes_the_check_with_the_type_slices():
    meta = get_fld_metainfo()
    checked = check_keypoint_metainfo(meta, 'fld')
    assert checked['classes'] == TYPES
    assert checked['num_keypoints'] == 18
    assert [list(s) for s in checked['keypoint_slices']] == [[0, 6], [6, 10], [10, 18]]
    assert [list(s) for s in meta['keypoint_slices']] == [[0, 6], [6, 10], [10, 18]]
    assert len(meta['keypoint_names']) == len(meta['sigmas']) == 18


def test_names_and_flip_pairs_are_mmposes():
    """Every slot's partner is 'left X' <-> 'right X' of the same type, and each type's names and
    pairs are those of mmpose's installed deepfashion_{upper,lower,full} metainfo."""
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    meta = get_fld_metainfo()
    names, flip = meta['keypoint_names'], list(meta['flip_indices'])
    for label, (start, end) in enumerate(meta['keypoint_slices']):
        for slot in range(start, end):
            partner = flip[slot]
            assert start <= partner < end and partner != slot and flip[partner] == slot
            side, kind = names[slot].split(' ')
            assert names[partner] == {'left': 'right', 'right': 'left'}[side] + ' ' + kind
        config = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
                          f'deepfashion_{TYPES[label].split("_")[0]}.py')
        assert osp.isfile(config), config
        theirs = parse_pose_metainfo(dict(from_file=config))
        assert names[start:end] == [theirs['keypoint_id2name'][i]
                                    for i in range(theirs['num_keypoints'])]
        assert [f - start for f in flip[start:end]] == list(theirs['flip_indices'])


def test_full_body_names_are_the_fixture_jsons(fixture_coco):
    assert get_fld_metainfo()['keypoint_names'][10:18] == fixture_coco['categories'][0]['keypoints']


def _deepfashion2_sigma_mean(slots_by_garment):
    """Mean official sigma of (garment name, 0-based slots of that garment) groups; each group's
    slots must be closed under DeepFashion2's left/right flip (they are symmetric landmarks)."""
    df2_flip = deepfashion2_flip()
    means = []
    for garment, slots in slots_by_garment:
        start = KEYPOINT_SLICES[CATEGORY_NAMES.index(garment)][0]
        global_slots = [start + slot for slot in slots]
        assert sorted(df2_flip[global_slots].tolist()) == sorted(global_slots), garment
        means.append(np.mean([OKS_SIGMAS[slot] for slot in global_slots]))
    return means


def round_half_up(value: float, decimals: int = 4) -> float:
    """``value`` to ``decimals`` places, halves up (float noise below 1e-12 removed first)."""
    exact = Decimal(repr(round(float(value), 12)))
    return float(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def test_sigmas_are_the_stated_deepfashion2_means():
    """The docstring's values, recomputed from the official DeepFashion2 sigmas."""
    top = 'short sleeve top'
    stated = dict(collar=0.0158, sleeve=0.0322, waistline=0.0279, upper_hem=0.0492,
                  lower_hem=0.0446)
    derived = dict(
        collar=_deepfashion2_sigma_mean([(top, (1, 5))])[0],
        sleeve=_deepfashion2_sigma_mean([(top, (8, 9, 21, 22))])[0],
        waistline=np.mean(_deepfashion2_sigma_mean([('shorts', (0, 2)), ('trousers', (0, 2)),
                                                    ('skirt', (0, 2))])),  # 2 slots each
        upper_hem=_deepfashion2_sigma_mean([(top, (14, 16))])[0],
        # the docstring: the mean of three garments' means (not the 10 slots pooled)
        lower_hem=np.mean(_deepfashion2_sigma_mean([('skirt', (4, 6)),
                                                    ('trousers', (5, 6, 10, 11)),
                                                    ('shorts', (4, 5, 7, 8))])))
    # half up: the lower hem's mean is 0.04455 exactly (0.0543, 0.0315, 0.04785 averaged), which
    # Python's round() on the binary float would take down to 0.0445
    assert {key: round_half_up(value) for key, value in derived.items()} == stated

    meta = get_fld_metainfo()
    for slot, (name, sigma) in enumerate(zip(meta['keypoint_names'], meta['sigmas'])):
        kind = name.split(' ')[1]
        if kind == 'hem':
            kind = 'upper_hem' if slot < 6 else 'lower_hem'
        assert sigma == stated[kind], (slot, name)


# ------------------------------------------------------------------ FLDDataset, mmpose's json
def test_fixture_annotations_land_in_the_full_body_slots(fixture_dir, fixture_coco):
    dataset = fld(fixture_dir / 'test_fld.json', fixture_dir)
    flip = get_fld_metainfo()['flip_indices']
    assert len(dataset) == len(fixture_coco['images']) == 2
    anns = {ann['image_id']: ann for ann in fixture_coco['annotations']}
    for index, image in enumerate(fixture_coco['images']):
        info = dataset.get_data_info(index)
        assert info['img_id'] == image['id']
        assert info['img_path'] == str(fixture_dir / image['file_name'])
        assert (info['height'], info['width']) == (image['height'], image['width'])
        np.testing.assert_array_equal(info['flip_indices'], flip)
        (instance, ) = info['instances']
        ann = anns[image['id']]
        x, y, w, h = ann['bbox']
        assert instance['bbox'] == [x, y, x + w, y + h]
        assert instance['bbox_label'] == 2 and instance['area'] == w * h
        assert instance['ignore_flag'] == ann['iscrowd']
        xyv = np.asarray(ann['keypoints'], dtype=np.float64).reshape(8, 3)
        np.testing.assert_array_equal(instance['keypoints'][10:18], xyv[:, :2])
        np.testing.assert_array_equal(instance['keypoints_visible'][10:18], xyv[:, 2])
        assert not instance['keypoints'][:10].any() and not instance['keypoints_visible'][:10].any()
        assert instance['keypoints'].shape == (18, 2) and instance['keypoints_visible'].dtype == \
            np.uint8
    # the fixture's second garment has an unlabelled (0, 0, 0) hem: kept as v = 0
    assert (dataset.get_data_info(1)['instances'][0]['keypoints_visible'] == 0).sum() == 11


def test_clothing_type_given_must_fit_the_landmark_count(fixture_dir, fixture_coco):
    ann_file = fixture_dir / 'test_fld.json'
    full = fld(ann_file, fixture_dir, clothing_type='full_body')
    assert full.get_data_info(0)['instances'][0]['bbox_label'] == 2
    first = fixture_coco['annotations'][0]['id']
    with pytest.raises(ValueError) as error:
        fld(ann_file, fixture_dir, clothing_type='upper_body')
    assert str(error.value).startswith(f'{ann_file}: image ')
    assert f'annotation {first}: 24 keypoint numbers fit no FLD type' in str(error.value)
    with pytest.raises(ValueError, match='clothing_type must be one of'):
        fld(ann_file, fixture_dir, clothing_type='dress')


def write_variant(tmp_path, coco, num_landmarks, category_names=None) -> Path:
    """The fixture with every annotation cut to its first ``num_landmarks`` landmarks."""
    coco = copy.deepcopy(coco)
    for ann in coco['annotations']:
        ann['keypoints'] = ann['keypoints'][:3 * num_landmarks]
    if category_names is not None:
        coco['categories'][0]['keypoints'] = list(category_names)
    path = tmp_path / f'fld_{num_landmarks}.json'
    path.write_text(json.dumps(coco))
    return path


def test_annotation_with_five_landmarks_raises(fixture_dir, fixture_coco, tmp_path):
    path = write_variant(tmp_path, fixture_coco, 5, category_names=[])
    first = fixture_coco['annotations'][0]['id']
    with pytest.raises(ValueError) as error:
        fld(path, fixture_dir)
    assert str(error.value).startswith(f'{path}: image ')
    assert f'annotation {first}: 15 keypoint numbers fit no FLD type' in str(error.value)
    skipped = fld(path, fixture_dir, skip_invalid=True)  # images kept, garments skipped
    assert [len(skipped.get_data_info(i)['instances']) for i in range(len(skipped))] == \
        [0] * len(fixture_coco['images'])
    assert len(skipped.invalid.problems) == len(fixture_coco['annotations'])


def test_category_names_decide_the_type(fixture_dir, fixture_coco, tmp_path):
    upper_names = get_fld_metainfo()['keypoint_names'][0:6]
    path = write_variant(tmp_path, fixture_coco, 6, category_names=upper_names)
    dataset = fld(path, fixture_dir)
    for index, ann in enumerate(fixture_coco['annotations']):
        (instance, ) = dataset.get_data_info(index)['instances']
        assert instance['bbox_label'] == 0
        xyv = np.asarray(ann['keypoints'][:18], dtype=np.float64).reshape(6, 3)
        np.testing.assert_array_equal(instance['keypoints'][0:6], xyv[:, :2])
        np.testing.assert_array_equal(instance['keypoints_visible'][0:6], xyv[:, 2])
        assert not instance['keypoints'][6:].any() and not instance['keypoints_visible'][6:].any()
    # the names outrank the count: 8 landmarks under upper-body names do not fit
    mislabelled = write_variant(tmp_path, fixture_coco, 8, category_names=upper_names)
    with pytest.raises(ValueError, match='24 keypoint numbers fit no FLD type'):
        fld(mislabelled, fixture_dir)


# ---------------------------------------------------------------- converter on the lab photos
def test_converter_counts_and_split_by_sorted_name(converted, lab_rows):
    out_dir, files = converted
    assert len(lab_rows) == 117
    expected = {}
    for rank, row in enumerate(lab_rows):
        kind = {0.0: 'upper', 1.0: 'lower'}[float(row['category_type'])]
        name = f'fld_{kind}_{"train" if rank < 90 else "test"}.json'
        expected.setdefault(name, []).append(row['image_name'])
    assert {name: len(names) for name, names in expected.items()} == {
        'fld_upper_train.json': 72, 'fld_lower_train.json': 18,
        'fld_upper_test.json': 18, 'fld_lower_test.json': 9}
    assert set(files) == set(expected)
    for name, coco in files.items():
        assert json.loads((out_dir / name).read_text()) == coco
        assert [image['file_name'] for image in coco['images']] == expected[name]
    train = {image['file_name'] for name, coco in files.items() if 'train' in name
             for image in coco['images']}
    assert train == {row['image_name'] for row in lab_rows[:90]}


def test_converter_ids_boxes_and_landmarks_follow_the_csv(converted, lab_rows):
    _, files = converted
    meta = get_fld_metainfo()
    rank = {row['image_name']: number for number, row in enumerate(lab_rows)}
    by_name = {row['image_name']: row for row in lab_rows}
    ids = []
    for name, coco in files.items():
        label = 0 if '_upper_' in name else 1
        start, end = meta['keypoint_slices'][label]
        type_names = meta['keypoint_names'][start:end]
        (category, ) = coco['categories']
        assert category['keypoints'] == type_names and category['id'] == 1
        images = {image['id']: image for image in coco['images']}
        assert len(coco['annotations']) == len(images)
        for ann in coco['annotations']:
            image = images[ann['image_id']]
            row = by_name[image['file_name']]
            assert ann['image_id'] == ann['id'] == 1 + rank[image['file_name']]
            assert (image['width'], image['height']) == (960, 720)
            assert float(row['category_type']) == label
            # mmpose order: 'left collar' -> lm_lc, 'right hem' -> lm_rh, ...; all visible
            codes = [side[0] + kind[0] for side, kind in (n.split(' ') for n in type_names)]
            assert all(float(row[f'lm_{code}_vis']) == 1 for code in codes)
            expected = [value for code in codes for value in row_point(row, code) + [2.0]]
            assert ann['keypoints'] == expected and ann['num_keypoints'] == len(codes)
            x1, y1, x2, y2 = (float(row[key]) for key in ('x_1', 'y_1', 'x_2', 'y_2'))
            x2, y2 = min(x2, image['width']), min(y2, image['height'])
            assert ann['bbox'] == [x1, y1, x2 - x1, y2 - y1]
            assert ann['area'] == (x2 - x1) * (y2 - y1) and ann['iscrowd'] == 0
            ids.append(ann['image_id'])
    assert sorted(ids) == list(range(1, 118))


def test_converter_clips_the_box_that_leaves_the_image(converted, lab_rows):
    _, files = converted
    (row, ) = [row for row in lab_rows if float(row['y_2']) > 720]
    assert float(row['y_2']) == 721
    (ann, ) = [ann for coco in files.values() for image in coco['images']
               if image['file_name'] == row['image_name']
               for ann in coco['annotations'] if ann['image_id'] == image['id']]
    x1, y1, x2 = float(row['x_1']), float(row['y_1']), float(row['x_2'])
    assert ann['bbox'] == [x1, y1, x2 - x1, 720 - y1]


def test_fld_dataset_reads_the_converted_files(converted, lab_dir, lab_rows):
    out_dir, files = converted
    by_name = {row['image_name']: row for row in lab_rows}
    for name, label, slot_codes in (('fld_upper_test.json', 0, UPPER_SLOT_CODES),
                                    ('fld_lower_test.json', 1, LOWER_SLOT_CODES)):
        dataset = fld(out_dir / name, lab_dir)
        assert len(dataset) == len(files[name]['images'])
        for index in range(len(dataset)):
            info = dataset.get_data_info(index)
            row = by_name[osp.basename(info['img_path'])]
            (instance, ) = info['instances']
            assert instance['bbox_label'] == label
            visible = np.zeros(18, dtype=np.uint8)
            points = np.zeros((18, 2), dtype=np.float32)
            for slot, code in slot_codes.items():
                visible[slot] = 2
                points[slot] = row_point(row, code)
            np.testing.assert_array_equal(instance['keypoints_visible'], visible)
            np.testing.assert_array_equal(instance['keypoints'], points)


def to_original(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Input-image points mapped back through the inverse of the sample's homography."""
    inverse = np.linalg.inv(np.asarray(homography, dtype=np.float64))
    mapped = np.c_[points, np.ones(len(points))] @ inverse.T
    return mapped[:, :2] / mapped[:, 2:]


@pytest.mark.parametrize('flip', [False, True])
def test_pipeline_round_trip_to_the_csv(converted, lab_dir, lab_rows, flip):
    """Through the CenterAffine pipeline (and a flip) and back: the CSV's coordinates; a flip
    moves each landmark to its mirror slot (left collar slot <- the mirrored right collar)."""
    out_dir, _ = converted
    by_name = {row['image_name']: row for row in lab_rows}
    flip_indices = get_fld_metainfo()['flip_indices']
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadDeepFashion2Annotations'),
        dict(type='CenterAffine', input_size=64),
    ] + ([dict(type='RandomFlip', prob=1.0, direction='horizontal')] if flip else []) + [
        dict(type='PackDeepMarkInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'homography_matrix',
                        'flip', 'flip_direction')),
    ]
    for name, slot_codes in (('fld_upper_test.json', UPPER_SLOT_CODES),
                             ('fld_lower_test.json', LOWER_SLOT_CODES)):
        with DefaultScope.overwrite_default_scope('mmdet'):
            dataset = DATASETS.build(
                dict(type='FLDDataset', ann_file=str(out_dir / name), test_mode=True,
                     serialize_data=False, data_prefix=dict(img=str(lab_dir)),
                     pipeline=pipeline))
            packed = dataset[0]
        sample = packed['data_samples']
        row = by_name[osp.basename(sample.img_path)]
        assert tuple(packed['inputs'].shape) == (3, 64, 64)
        assert sample.flip is flip and sample.ori_shape == (720, 960)
        gt = sample.gt_instances
        assert gt.labels.tolist() == [0 if 'upper' in name else 1]
        keypoints = gt.keypoints[0].numpy()
        visible = gt.keypoints_visible[0].numpy()
        back = to_original(sample.homography_matrix, keypoints)
        expected_visible = np.zeros(18)
        for slot, code in slot_codes.items():
            # after a flip, slot s holds what was in its partner slot
            target = int(flip_indices[slot]) if flip else slot
            expected_visible[target] = 2
            np.testing.assert_allclose(back[target], row_point(row, code), rtol=0, atol=1e-3)
        np.testing.assert_array_equal(visible, expected_visible)
        assert not keypoints[expected_visible == 0].any()
        if flip and name == 'fld_upper_test.json':  # the example of the brief, spelled out
            np.testing.assert_allclose(back[0], row_point(row, 'rc'), rtol=0, atol=1e-3)
            np.testing.assert_allclose(back[1], row_point(row, 'lc'), rtol=0, atol=1e-3)
            # the garment's left is the image's right, before the flip (CSV) and after it
            assert float(row['lm_lc_x']) > float(row['lm_rc_x'])
            assert keypoints[0, 0] > keypoints[1, 0]
        # the box maps back to the clipped CSV box
        x1, y1, x2, y2 = gt.bboxes.tensor[0].tolist()
        corners = to_original(sample.homography_matrix, np.array([[x1, y1], [x2, y2]]))
        box = [float(row[key]) for key in ('x_1', 'y_1', 'x_2', 'y_2')]
        box = [box[0], box[1], box[2], min(box[3], 720.0)]
        np.testing.assert_allclose(np.sort(corners[:, 0]), box[0::2], rtol=0, atol=1e-3)
        np.testing.assert_allclose(np.sort(corners[:, 1]), box[1::2], rtol=0, atol=1e-3)


def test_concat_of_the_train_files(converted, lab_dir):
    out_dir, files = converted
    parts = [fld(out_dir / name, lab_dir, serialize_data=True)  # as training builds them
             for name in ('fld_upper_train.json', 'fld_lower_train.json')]
    concat = ConcatDataset(parts)
    assert len(concat) == 90
    meta = get_fld_metainfo()
    assert concat.metainfo['classes'] == TYPES
    assert [list(s) for s in concat.metainfo['keypoint_slices']] == meta['keypoint_slices']
    np.testing.assert_array_equal(concat.metainfo['flip_indices'], meta['flip_indices'])
    np.testing.assert_array_equal(concat.metainfo['sigmas'], meta['sigmas'])
    labels = [concat.get_data_info(i)['instances'][0]['bbox_label'] for i in range(90)]
    assert labels == [0] * 72 + [1] * 18
    img_ids = [concat.get_data_info(i)['img_id'] for i in range(90)]
    assert sorted(img_ids) == list(range(1, 91))
