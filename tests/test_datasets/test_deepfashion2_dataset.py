# Copyright (c) deepmark_mm contributors. All rights reserved.
import collections
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepmark_mm.datasets import DeepFashion2Dataset, DeepFashion2FormatError
from deepmark_mm.datasets import keypoint_coco_dataset as dataset_module
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepfashion2_to_coco import per_image_to_coco


def load(root: Path, split: str = 'train', **kwargs) -> DeepFashion2Dataset:
    kwargs.setdefault('serialize_data', False)  # skips mmengine's gc.collect(), 0.5 s per dataset
    return DeepFashion2Dataset(
        data_root=str(root), ann_file=f'{split}/deepfashion2_{split}.json',
        data_prefix=dict(img=f'{split}/image/'), **kwargs)


def all_infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def test_instances_follow_the_data_contract(synthetic_root):
    dataset = load(synthetic_root, split='validation', test_mode=True)
    assert dataset.metainfo['classes'][0] == 'short_sleeved_shirt'
    assert len(dataset.metainfo['flip_indices']) == NUM_KEYPOINTS
    info = dataset.get_data_info(0)
    assert info['img_id'] == 1 and info['img_path'].endswith('validation/image/000001.jpg')
    for instance in info['instances']:
        x1, y1, x2, y2 = instance['bbox']
        assert x2 > x1 and y2 > y1
        assert instance['area'] == pytest.approx((x2 - x1) * (y2 - y1))
        assert instance['keypoints'].shape == (NUM_KEYPOINTS, 2)
        assert instance['keypoints_visible'].shape == (NUM_KEYPOINTS, )
        start, end = KEYPOINT_SLICES[instance['bbox_label']]
        outside = np.ones(NUM_KEYPOINTS, dtype=bool)
        outside[start:end] = False
        assert (instance['keypoints_visible'][outside] == 0).all()
        assert (instance['keypoints'][outside] == 0).all()
        labelled = instance['keypoints_visible'] > 0
        inside = (instance['keypoints'][labelled] >= [x1, y1]) & \
            (instance['keypoints'][labelled] <= [x2, y2])
        assert inside.all()


def test_kgdet_demo_loads_32_images_55_items(samples_dir, demo_coco):
    root = samples_dir / 'kgdet_demo_dataset'
    dataset = DeepFashion2Dataset(
        data_root=str(root), ann_file='demo_dataset-32.json', data_prefix=dict(img='image/'),
        test_mode=True, serialize_data=False)
    infos = all_infos(dataset)
    instances = [instance for info in infos for instance in info['instances']]
    assert len(infos) == 32 and len(instances) == 55
    # README facts: categories 3, 6 and 11 are absent; 682 slots v=2 and 274 slots v=1
    categories = collections.Counter(instance['bbox_label'] + 1 for instance in instances)
    assert set(categories) == set(range(1, 14)) - {3, 6, 11}
    visibility = np.concatenate([instance['keypoints_visible'] for instance in instances])
    assert (visibility == 2).sum() == 682 and (visibility == 1).sum() == 274
    by_id = {annotation['id']: annotation for annotation in demo_coco['annotations']}
    for info in infos:
        assert Path(info['img_path']).is_file()
        for instance in info['instances']:
            annotation = by_id[instance['id']]
            assert instance['bbox_label'] == annotation['category_id'] - 1
            assert (instance['keypoints_visible'] > 0).sum() == annotation['num_keypoints']
            x, y, w, h = annotation['bbox']
            assert instance['bbox'] == [x, y, x + w, y + h]
            start, end = KEYPOINT_SLICES[instance['bbox_label']]
            raw = np.asarray(annotation['keypoints']).reshape(-1, 3)
            np.testing.assert_array_equal(instance['keypoints_visible'], raw[:, 2])
            np.testing.assert_allclose(instance['keypoints'][start:end], raw[start:end, :2])


def test_filter_cfg_drops_empty_and_small_images(tmp_path):
    write_split(tmp_path, {'000001': {'item1': good_item()}, '000002': {}}, sizes={'000002': 80})
    kept = load(tmp_path, filter_cfg=dict(filter_empty_gt=True))
    assert [info['img_id'] for info in all_infos(kept)] == [1]
    small = load(tmp_path, filter_cfg=dict(min_size=90))
    assert [info['img_id'] for info in all_infos(small)] == [1]
    everything = load(tmp_path, test_mode=True,
                      filter_cfg=dict(filter_empty_gt=True, min_size=90))
    assert len(everything) == 2


def test_items_without_labelled_landmarks_are_kept(tmp_path):
    item = good_item()
    item['landmarks'] = [0] * len(item['landmarks'])
    write_split(tmp_path, {'000001': {'item1': item, 'item2': good_item()}})
    info = load(tmp_path).get_data_info(0)
    assert len(info['instances']) == 2
    assert (info['instances'][0]['keypoints_visible'] == 0).all()


# ----------------------------------------------------------------------------- bad input
SKIRT = 9  # 8 landmarks


def good_item(category_id: int = SKIRT) -> dict:
    start, end = KEYPOINT_SLICES[category_id - 1]
    landmarks = []
    for k in range(end - start):
        landmarks += [12 + 5 * k, 15 + 3 * k, 2]
    return dict(category_id=category_id, bounding_box=[10, 12, 60, 70], landmarks=landmarks,
                style=1)


def write_split(root: Path, annos: dict, missing_images=(), sizes=None, split='train') -> None:
    """Per-image layout under root/split plus, when every file is valid, its converted COCO
    json."""
    (root / split / 'image').mkdir(parents=True, exist_ok=True)
    (root / split / 'annos').mkdir(parents=True, exist_ok=True)
    for stem, items in annos.items():
        size = (sizes or {}).get(stem, 100)
        if stem not in missing_images:
            cv2.imwrite(str(root / split / 'image' / f'{stem}.jpg'),
                        np.full((size, size, 3), 128, np.uint8))
        text = items if isinstance(items, str) else json.dumps(dict(source='shop', pair_id=1,
                                                                    **items))
        with open(root / split / 'annos' / f'{stem}.json', 'w') as file:
            file.write(text)
    coco, problems = per_image_to_coco(str(root / split), skip_invalid=True)
    if not problems:
        (root / split / f'deepfashion2_{split}.json').write_text(json.dumps(coco))


def coco_with(annotation_changes: dict) -> dict:
    """A one-image COCO file whose only annotation has ``annotation_changes`` applied."""
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    start, end = KEYPOINT_SLICES[SKIRT - 1]
    keypoints[start:end] = [[20, 30, 2]] * (end - start)
    annotation = dict(id=7, image_id=1, category_id=SKIRT, bbox=[10, 12, 50, 58], area=2900,
                      iscrowd=0, pair_id=1, style=0, num_keypoints=8,
                      keypoints=keypoints.reshape(-1).tolist())
    annotation.update(annotation_changes)
    return dict(images=[dict(id=1, file_name='000001.jpg', width=100, height=100)],
                annotations=[annotation], categories=[])


PER_IMAGE_CASES = {
    'category id above 13': (dict(category_id=14), 'category_id 14 is outside 1..13'),
    'category id 0': (dict(category_id=0), 'category_id 0 is outside 1..13'),
    'landmark count': (dict(landmarks=[20, 30, 2] * 7), 'landmarks has 21 numbers, expected 24'),
    'degenerate box': (dict(bounding_box=[10, 12, 10, 70]), 'degenerate, inverted'),
    'inverted box': (dict(bounding_box=[10, 70, 60, 12]), 'degenerate, inverted'),
    'visibility 3': (dict(landmarks=[20, 30, 2] * 7 + [20, 30, 3]),
                     'visibility 3 at landmark 8'),
}


@pytest.mark.parametrize('case', list(PER_IMAGE_CASES))
def test_converter_names_or_skips_a_bad_item(tmp_path, case):
    changes, message = PER_IMAGE_CASES[case]
    write_split(tmp_path, {'000001': {'item1': good_item(), 'item2': {**good_item(), **changes}},
                           '000002': {'item1': good_item(), 'item2': good_item()}})
    with pytest.raises(DeepFashion2FormatError) as error:
        per_image_to_coco(str(tmp_path / 'train'))
    assert 'annos/000001.json: item2:' in str(error.value)
    assert message in str(error.value)
    coco, problems = per_image_to_coco(str(tmp_path / 'train'), skip_invalid=True)
    assert [a['image_id'] for a in coco['annotations']] == [1, 2, 2]
    assert len(problems) == 1 and message in problems[0]


def test_converter_missing_image_and_corrupt_file(tmp_path):
    write_split(tmp_path, {'000001': {'item1': good_item()}, '000002': {'item1': good_item()}},
                missing_images={'000002'})
    with pytest.raises(DeepFashion2FormatError, match=r'000002.json: image: image file not found: '
                       r'.*000002.jpg'):
        per_image_to_coco(str(tmp_path / 'train'))
    coco, problems = per_image_to_coco(str(tmp_path / 'train'), skip_invalid=True)
    assert [image['id'] for image in coco['images']] == [1] and len(problems) == 1
    write_split(tmp_path, {'000001': '{"item1": {"category_id": 9, '})
    with pytest.raises(DeepFashion2FormatError, match=r'000001.json: unreadable or corrupt'):
        per_image_to_coco(str(tmp_path / 'train'))


COCO_CASES = {
    'category id above 13': (dict(category_id=14), 'category_id 14 is outside 1..13'),
    'keypoint count': (dict(keypoints=[0.0] * 881), 'keypoints has 881 numbers'),
    'degenerate box': (dict(bbox=[10, 12, 0, 58]), 'degenerate, inverted or not finite'),
    'inverted box': (dict(bbox=[10, 12, 50, -5]), 'degenerate, inverted or not finite'),
    'visibility 5': (dict(keypoints=[0.0] * (3 * 182) + [20.0, 30.0, 5.0] + [0.0] * (3 * 111)),
                     'visibility 5 at landmark 183'),
    'slot of another category': (dict(keypoints=[1.0, 1.0, 2.0] + [0.0] * 879),
                                 'keypoints slot 0 is set but category 9 (skirt) owns slots 182'),
}


@pytest.mark.parametrize('case', list(COCO_CASES))
def test_coco_bad_annotation_names_file_and_item(tmp_path, monkeypatch, case):
    changes, message = COCO_CASES[case]
    write_split(tmp_path, {'000001': {}, '000002': {}})
    coco, good = coco_with(changes), coco_with({})['annotations'][0]
    coco['images'].append(dict(id=2, file_name='000002.jpg', width=100, height=100))
    coco['annotations'] += [dict(good, id=8), dict(good, id=9, image_id=2)]
    with open(tmp_path / 'train' / 'deepfashion2_train.json', 'w') as file:
        json.dump(coco, file)
    with pytest.raises(DeepFashion2FormatError) as error:
        load(tmp_path)
    assert 'deepfashion2_train.json: image 1 (000001.jpg) annotation 7:' in str(error.value)
    assert message in str(error.value)
    # skip_invalid: the bad garment goes, its image stays with its good garment; one warning
    warnings = []
    monkeypatch.setattr(dataset_module, 'print_log', lambda msg, **kw: warnings.append(msg))
    dataset = load(tmp_path, skip_invalid=True)
    assert [[instance['id'] for instance in info['instances']] for info in all_infos(dataset)] \
        == [[8], [9]]
    assert len(warnings) == 1 and 'skipped 1 invalid items and 0 unusable images' in warnings[0]
    assert len(dataset.invalid.problems) == 1 and message in dataset.invalid.problems[0]
    assert 'image 1 (000001.jpg) annotation 7:' in dataset.invalid.problems[0]


def test_parse_data_info_names_ann_file_without_source_file(tmp_path):
    write_split(tmp_path, {'000001': {'item1': good_item()}})
    dataset = load(tmp_path)
    coco = coco_with(dict(category_id=14))
    with pytest.raises(DeepFashion2FormatError, match=r'deepfashion2_train.json: image 1 '
                       r'\(000001.jpg\) annotation 7: category_id 14'):  # before: KeyError
        dataset.parse_data_info(dict(raw_img_info=coco['images'][0],
                                     raw_ann_info=coco['annotations']))


def test_coco_missing_image_and_corrupt_file(tmp_path, monkeypatch):
    write_split(tmp_path, {'000001': {}}, missing_images={'000001'})
    ann_file = tmp_path / 'train' / 'deepfashion2_train.json'
    with open(ann_file, 'w') as file:
        json.dump(coco_with({}), file)
    with pytest.raises(DeepFashion2FormatError,
                       match=r'deepfashion2_train.json: image 1 \(000001.jpg\): image file not '
                       r'found'):
        load(tmp_path)
    warnings = []
    monkeypatch.setattr(dataset_module, 'print_log', lambda msg, **kw: warnings.append(msg))
    dataset = load(tmp_path, skip_invalid=True)
    assert len(dataset) == 0 and dataset.invalid.skipped_images == 1
    assert len(warnings) == 1 and '1 unusable images' in warnings[0]
    ann_file.write_text('{"images": [')
    with pytest.raises(DeepFashion2FormatError, match=r'deepfashion2_train.json: unreadable or '
                       'corrupt'):
        load(tmp_path)


def test_empty_ann_file_names_the_converter(tmp_path):
    with pytest.raises(ValueError, match='deepfashion2_to_coco.py'):
        DeepFashion2Dataset(data_root=str(tmp_path), ann_file='')
