# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The metric's ann_file goes through the dataset's checks: no silent wrong numbers (issue 30)."""
import json
from pathlib import Path

import numpy as np
import pytest

from deepmark_mm.datasets import DeepFashion2Dataset, DeepFashion2FormatError
from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
from deepmark_mm.evaluation import DeepFashion2Metric

SPLIT = 'validation'


@pytest.fixture(scope='module')
def synthetic_val(tmp_path_factory) -> Path:
    """A generated set: 6 validation images of 64 px (COCO layout)."""
    root = tmp_path_factory.mktemp('gt_checks')
    make_synthetic_deepfashion2(str(root), num_train=1, num_val=6, size=64, seed=5)
    return root


def write_gt(root: Path, tmp_path: Path, change=None, index: int = 1) -> tuple:
    """The validation json with ``change(annotation)`` applied to ``annotations[index]``."""
    with open(root / SPLIT / f'deepfashion2_{SPLIT}.json') as file:
        coco = json.load(file)
    annotation = coco['annotations'][index]
    if change is not None:
        change(annotation)
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(coco))
    image = next(img for img in coco['images'] if img['id'] == annotation['image_id'])
    return str(path), coco, image, annotation


def perfect_samples(helpers, images, annotations_of_image):
    """Data samples whose predictions are the given ground truth (scores 1, 0.99, ...)."""
    samples = []
    for image in images:
        instances = [helpers.annotation_to_instance(ann)
                     for ann in annotations_of_image.get(image['id'], [])]
        pred = helpers.make_prediction(
            [inst['bbox'] for inst in instances], 1 - 0.01 * np.arange(len(instances)),
            [inst['bbox_label'] for inst in instances],
            [inst['keypoints'] for inst in instances])
        samples.append(helpers.make_sample(image['id'], image['height'], image['width'], pred))
    return samples


def negative_width(annotation):
    annotation['bbox'][2] = -annotation['bbox'][2]


def category_14(annotation):
    annotation['category_id'] = 14


def short_keypoints(annotation):
    annotation['keypoints'] = annotation['keypoints'][:-1]


@pytest.mark.parametrize('change, message', [
    (negative_width, 'degenerate, inverted or not finite'),  # was box mAP 0.95, silently
    (category_14, 'category_id 14 is outside 1..13'),  # was 0.98, silently
    (short_keypoints, 'keypoints has 881 numbers'),  # was an error naming no file
])
def test_invalid_ground_truth_names_file_image_and_annotation(synthetic_val, tmp_path, change,
                                                              message):
    path, _, image, annotation = write_gt(synthetic_val, tmp_path, change)
    with pytest.raises(DeepFashion2FormatError) as error:
        DeepFashion2Metric(ann_file=path)
    assert f'{path}: image {image["id"]} ({image["file_name"]}) annotation ' \
           f'{annotation["id"]}: ' in str(error.value)
    assert message in str(error.value)


def test_truncated_ground_truth_names_the_file(synthetic_val, tmp_path):
    path, *_ = write_gt(synthetic_val, tmp_path)
    Path(path).write_text(Path(path).read_text()[:-500])
    with pytest.raises(DeepFashion2FormatError, match=f'{path}: unreadable or corrupt'):
        DeepFashion2Metric(ann_file=path)


@pytest.mark.parametrize('change', [negative_width, category_14, short_keypoints])
def test_skip_invalid_scores_exactly_the_items_the_dataset_keeps(helpers, synthetic_val, tmp_path,
                                                                 change):
    path, coco, _, bad = write_gt(synthetic_val, tmp_path, change)
    dataset = DeepFashion2Dataset(
        ann_file=path, data_prefix=dict(img=str(synthetic_val / SPLIT / 'image')),
        skip_invalid=True, test_mode=True, serialize_data=False)
    kept = {}  # image id -> the annotations the dataset keeps
    for info in (dataset.get_data_info(index) for index in range(len(dataset))):
        ids = {instance['id'] for instance in info['instances']}
        kept[info['img_id']] = [ann for ann in coco['annotations']
                                if ann['image_id'] == info['img_id'] and ann['id'] in ids]
    assert sum(map(len, kept.values())) == len(coco['annotations']) - 1
    assert bad['id'] not in {ann['id'] for anns in kept.values() for ann in anns}

    metric = DeepFashion2Metric(ann_file=path, skip_invalid=True)
    metric.dataset_meta = dataset.metainfo  # as the evaluator does
    results = helpers.evaluate(metric, perfect_samples(helpers, coco['images'], kept))
    for key in ('bbox_mAP', 'kpt_mAP', 'kpt_vis_mAP'):
        assert results[key] == pytest.approx(1.0), key
