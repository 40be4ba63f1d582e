# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The streamed, compact dataset loading gives exactly the data_info of the plain path.

Reference ("old path"): ``json.load`` of the whole file (or the per-image files with 882-number
keypoint lists), every annotation through ``coco_annotation_to_instance``.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepmark_mm.datasets import DeepFashion2Dataset, DeepFashion2FormatError
from deepmark_mm.datasets.deepfashion2_compact import (compact_instance, expand_instance,
                                                      slim_coco_annotation)
from deepmark_mm.datasets.deepfashion2_converter import read_per_image_layout
from deepmark_mm.datasets.deepfashion2_format import coco_annotation_to_instance
from deepmark_mm.datasets.deepfashion2_json_stream import load_coco_json_streaming
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


def test_per_image_layout_equals_the_full_keypoint_path(synthetic_root):
    img_prefix = str(synthetic_root / 'train' / 'image') + '/'
    dataset = DeepFashion2Dataset(
        data_root=str(synthetic_root), ann_file='',
        data_prefix=dict(img=img_prefix, ann=str(synthetic_root / 'train' / 'annos') + '/'))
    samples = read_per_image_layout(str(synthetic_root / 'train'))
    assert len(samples[0][1][0]['keypoints']) == 3 * NUM_KEYPOINTS  # the plain path
    for index, (image, annotations, _) in enumerate(samples):
        old = dict(img_path=img_prefix + image['file_name'], img_id=image['id'],
                   height=image['height'], width=image['width'],
                   instances=[coco_annotation_to_instance(a, 'ref') for a in annotations])
        assert_same_info(dataset.get_data_info(index), old)


def test_stored_instances_keep_only_the_own_slots(synthetic_root):
    dataset = DeepFashion2Dataset(
        data_root=str(synthetic_root), ann_file='train/deepfashion2_train.json',
        data_prefix=dict(img='train/image/'), serialize_data=False)
    stored = [i for info in dataset.data_list for i in info['instances']]
    for instance in stored:
        start, end = KEYPOINT_SLICES[instance['bbox_label']]
        assert 'keypoints' not in instance
        assert instance['own_keypoints'].shape == (end - start, 2)
        assert instance['own_keypoints_visible'].shape == (end - start, )
        assert expand_instance(instance)['keypoints'].shape == (NUM_KEYPOINTS, 2)
        assert compact_instance(expand_instance(instance)).keys() == instance.keys()


def test_real_sample_annotations_load_equal(samples_dir, tmp_path):
    ann_file = samples_dir / 'kgdet_demo_dataset' / 'demo_dataset-32.json'
    dataset = DeepFashion2Dataset(data_root=str(tmp_path), ann_file=str(ann_file),
                                  data_prefix=dict(img='img/'), check_images=False)
    reference = reference_coco_infos(ann_file, str(tmp_path / 'img') + '/')
    assert len(dataset) == len(reference) == 32
    for index, old in enumerate(reference):
        assert_same_info(dataset.get_data_info(index), old)


def test_streaming_reader_equals_json_load_across_chunk_borders(tmp_path):
    coco = dict(info=dict(year=2019, note='a "quoted" \\ text é'), licenses=[],
                images=[dict(id=i, file_name=f'{i:06d}.jpg', width=640 + i, height=480)
                        for i in range(1, 6)],
                annotations=[dict(id=k, image_id=1 + k % 5, keypoints=[0.5 * k] * 7,
                                  bbox=[1.25, 2, 3e2, 12345678901])
                             for k in range(1, 12)],
                categories=[dict(id=1, name='x')], trailing_number=123456789)
    path = tmp_path / 'c.json'
    path.write_text(json.dumps(coco, indent=1, ensure_ascii=False), encoding='utf-8')
    for chunk_chars in (1, 3, 7, 64, 1 << 20):
        assert load_coco_json_streaming(str(path), lambda a: a, chunk_chars) == coco
    seen = load_coco_json_streaming(str(path), lambda a: a['id'], chunk_chars=5)
    assert seen['annotations'] == list(range(1, 12)) and seen['images'] == coco['images']
    for text in ('{"images": [1, 2,]}', '{"a": 1} x', '[1]', '{"images": [1 2]}', '{"a": 1',
                 '\ufeff{"a": 1}', ''):
        path.write_text(text, encoding='utf-8')
        assert load_coco_json_streaming(str(path), lambda a: a, chunk_chars=2) is None
    path.write_bytes(b'{"a": "\xff"}')
    assert load_coco_json_streaming(str(path), lambda a: a) is None
    path.write_text(' {"images" : [ ] , "annotations":[]}\n ', encoding='utf-8')
    assert load_coco_json_streaming(str(path), lambda a: a) == dict(images=[], annotations=[])


def test_slim_annotation_compacts_only_valid_keypoints():
    start, end = KEYPOINT_SLICES[8]  # skirt, category 9
    full = [0.0] * (3 * NUM_KEYPOINTS)
    full[3 * start:3 * start + 3] = [10.5, 20, 2]
    annotation = dict(id=3, image_id=1, category_id=9, bbox=[1, 2, 3, 4], keypoints=full,
                      segmentation=[[1, 2, 3]], area=12, iscrowd=0, num_keypoints=1)
    slim = slim_coco_annotation(annotation)
    assert sorted(slim) == ['bbox', 'category_id', 'id', 'image_id', 'iscrowd', 'keypoints']
    assert slim['keypoints'].tolist() == full[3 * start:3 * end]
    for bad in (dict(annotation, category_id=True), dict(annotation, category_id=14),
                dict(annotation, keypoints=full[:-3])):
        assert slim_coco_annotation(bad)['keypoints'] is bad['keypoints']
    outside = list(full)
    outside[0] = 1.0  # slot 0 belongs to category 1
    wrong_visibility = list(full)
    wrong_visibility[3 * start + 2] = 3
    for keypoints in (outside, wrong_visibility, full[:-1] + [float('nan')]):
        assert slim_coco_annotation(dict(annotation, keypoints=keypoints))['keypoints'] is keypoints
    assert slim_coco_annotation([1, 2]) == [1, 2]


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
