# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The dataset's loading (``lean_annotation`` hook) gives exactly the data_info of the plain path.

Reference ("old path"): ``json.load`` of the whole file, every annotation through
``coco_annotation_to_instance``.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepmark_mm.datasets import DeepFashion2Dataset, DeepFashion2FormatError
from deepmark_mm.datasets.deepfashion2_dataset import lean_annotation, load_json_file
from deepmark_mm.datasets.deepfashion2_format import coco_annotation_to_instance
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS


def reference_coco_infos(ann_file: Path, img_prefix: str) -> list:
    with open(ann_file) as file:
        coco = json.load(file)
    by_image = {image['id']: [] for image in coco['images']}
    for annotation in coco['annotations']:
        by_image[annotation['image_id']].append(annotation)
    return [
        dict(img_path=img_prefix + image['file_name'], img_id=image['id'], height=image['height'],
             width=image['width'],
             instances=[coco_annotation_to_instance(a, 'ref') for a in by_image[image['id']]])
        for image in coco['images']
    ]


def assert_same_info(new: dict, old: dict) -> None:
    assert list(new) == list(old) + ['sample_idx']  # mmengine adds the index
    for key in ('img_path', 'img_id', 'height', 'width'):
        assert new[key] == old[key]
    assert len(new['instances']) == len(old['instances'])
    for new_instance, old_instance in zip(new['instances'], old['instances']):
        assert list(new_instance) == list(old_instance)
        for key, value in old_instance.items():
            if isinstance(value, np.ndarray):
                assert new_instance[key].dtype == value.dtype
                assert new_instance[key].shape == value.shape
                assert np.array_equal(new_instance[key], value)
            else:
                assert new_instance[key] == value and type(new_instance[key]) is type(value)


@pytest.mark.parametrize('serialize_data', [True, False])
def test_coco_layout_equals_the_plain_json_load_path(synthetic_root, serialize_data):
    ann_file = synthetic_root / 'train' / 'deepfashion2_train.json'
    img_prefix = str(synthetic_root / 'train' / 'image') + '/'
    dataset = DeepFashion2Dataset(data_root=str(synthetic_root), ann_file=str(ann_file),
                                  data_prefix=dict(img=img_prefix), serialize_data=serialize_data)
    reference = reference_coco_infos(ann_file, img_prefix)
    assert len(dataset) == len(reference) == 16
    assert sum(len(info['instances']) for info in reference) > 16
    for index, old in enumerate(reference):
        assert_same_info(dataset.get_data_info(index), old)


def test_real_sample_annotations_load_equal(samples_dir, tmp_path):
    ann_file = samples_dir / 'kgdet_demo_dataset' / 'demo_dataset-32.json'
    dataset = DeepFashion2Dataset(data_root=str(tmp_path), ann_file=str(ann_file),
                                  data_prefix=dict(img='img/'), check_images=False)
    reference = reference_coco_infos(ann_file, str(tmp_path / 'img') + '/')
    assert len(dataset) == len(reference) == 32
    for index, old in enumerate(reference):
        assert_same_info(dataset.get_data_info(index), old)


def test_lean_annotation_keeps_values_and_leaves_the_rest(tmp_path):
    start, end = KEYPOINT_SLICES[8]  # skirt, category 9
    full = [0.0] * (3 * NUM_KEYPOINTS)
    full[3 * start:3 * start + 3] = [10.5, 20, 2]
    annotation = dict(id=3, image_id=1, category_id=9, bbox=[1, 2, 3, 4], keypoints=full,
                      segmentation=[[1, 2, 3]], area=12, iscrowd=0, num_keypoints=1)
    coco = dict(images=[dict(id=1, file_name='000001.jpg', width=8, height=8)],
                annotations=[annotation, dict(annotation, id=4, keypoints=[[1, 2], 3]),
                             dict(annotation, id=5, keypoints='x')],
                categories=[dict(id=9, name='skirt', keypoints=['1'])])
    path = tmp_path / 'c.json'
    path.write_text(json.dumps(coco))
    lean = load_json_file(str(path), lean_annotation)
    assert lean['images'] == coco['images'] and lean['categories'] == coco['categories']
    first, ragged, text = lean['annotations']
    assert sorted(first) == sorted(set(annotation) - {'segmentation'})
    assert first['keypoints'].dtype == np.float64 and first['keypoints'].tolist() == full
    assert ragged['keypoints'] == [[1, 2], 3] and text['keypoints'] == 'x'
    assert load_json_file(str(path)) == coco
    assert coco_annotation_to_instance(first, 'a')['keypoints'].tobytes() == \
        coco_annotation_to_instance(annotation, 'a')['keypoints'].tobytes()


def test_invalid_keypoints_keep_the_full_list_error_message(synthetic_root, tmp_path):
    root = tmp_path / 'root'
    shutil.copytree(synthetic_root / 'train', root / 'train')
    ann_file = root / 'train' / 'deepfashion2_train.json'
    coco = json.loads(ann_file.read_text())
    annotation = coco['annotations'][0]
    start, end = KEYPOINT_SLICES[annotation['category_id'] - 1]
    annotation['keypoints'][3 * start + 2] = 5
    ann_file.write_text(json.dumps(coco))
    with pytest.raises(DeepFashion2FormatError, match=rf'annotation {annotation["id"]}: '
                       rf'keypoints visibility 5 at landmark {start + 1} is not one of'):
        DeepFashion2Dataset(data_root=str(root), ann_file='train/deepfashion2_train.json',
                            data_prefix=dict(img='train/image/'), serialize_data=False)
