# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Category 11 (long sleeve dress) on real data: mmpose's 2-image DeepFashion2 fixture.

The 32 KGDet samples lack category 11; ``../shared/fashion-landmarks/deepfashion2_mmpose_fixture``
has two (skipped when absent). Dataset, converter round trip and metric, all checked against the
json itself; outputs go to tmp paths.
"""
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest
import torch

from deepfashion2_to_coco import coco_categories, coco_to_per_image, per_image_to_coco
from deepmark_mm.datasets import DeepFashion2Dataset
from deepmark_mm.datasets.deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                                        NUM_KEYPOINTS, OKS_SIGMAS)
from deepmark_mm.evaluation import DeepFashion2Metric

FIXTURE = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'fashion-landmarks' / \
    'deepfashion2_mmpose_fixture'
LABEL = 10  # category 11
#: COCO's OKS / IoU thresholds and recall points.
THRESHOLDS = np.linspace(.5, .95, 10)
RECALLS = np.linspace(.0, 1.00, 101)
#: Distinct scores, so that the AP of a partial match does not depend on tie order.
SCORES = {264: 0.9, 265: 0.8}


@pytest.fixture(scope='module')
def fixture_dir() -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f'{FIXTURE} is not available')
    return FIXTURE.resolve()


@pytest.fixture(scope='module')
def coco(fixture_dir) -> Dict:
    return json.loads((fixture_dir / 'deepfashion2_2.json').read_text())


@pytest.fixture(scope='module')
def ann_by_image(coco) -> Dict[int, Dict]:
    by_image = {ann['image_id']: ann for ann in coco['annotations']}
    assert len(by_image) == len(coco['annotations']) == len(coco['images']) == 2
    return by_image


def xyv(ann: Dict) -> np.ndarray:
    return np.asarray(ann['keypoints'], dtype=np.float64).reshape(NUM_KEYPOINTS, 3)


def xyxy(ann: Dict) -> List[float]:
    x, y, w, h = ann['bbox']
    return [x, y, x + w, y + h]


# --------------------------------------------------------------------------------- dataset
def test_fixture_is_category_11_in_the_official_layout(coco):
    (category, ) = coco['categories']
    assert category['id'] == LABEL + 1 and category['name'] == CLASSES[LABEL]
    assert category == coco_categories()[LABEL]  # the official converter's record
    start, end = KEYPOINT_SLICES[LABEL]
    assert (start, end) == (219, 256)
    for ann in coco['annotations']:
        assert ann['category_id'] == LABEL + 1
        rows = xyv(ann)
        labelled = np.flatnonzero(rows[:, 2] > 0)
        assert start <= labelled.min() and labelled.max() < end
        assert not rows[rows[:, 2] == 0].any()  # unlabelled slots are 0, 0, 0
        assert ann['num_keypoints'] == labelled.size


def check_instance(instance: Dict, ann: Dict) -> None:
    """A dataset instance equals its json annotation, number for number."""
    rows = xyv(ann)
    assert instance['bbox'] == xyxy(ann)
    assert instance['bbox_label'] == ann['category_id'] - 1 == LABEL
    assert instance['area'] == ann['area'] == ann['bbox'][2] * ann['bbox'][3]
    assert instance['ignore_flag'] == ann['iscrowd'] == 0
    assert instance['keypoints'].shape == (NUM_KEYPOINTS, 2)
    np.testing.assert_array_equal(instance['keypoints'], rows[:, :2])
    np.testing.assert_array_equal(instance['keypoints_visible'], rows[:, 2])
    start, end = KEYPOINT_SLICES[LABEL]
    assert set(np.flatnonzero(instance['keypoints_visible'])) <= set(range(start, end))
    assert (instance['pair_id'], instance['style']) == (ann['pair_id'], ann['style'])


@pytest.mark.parametrize('serialize_data', [False, True])
def test_dataset_ground_truth_equals_the_json(fixture_dir, coco, ann_by_image, serialize_data):
    dataset = DeepFashion2Dataset(ann_file=str(fixture_dir / 'deepfashion2_2.json'),
                                  data_prefix=dict(img=str(fixture_dir)), test_mode=True,
                                  serialize_data=serialize_data)
    assert len(dataset) == 2
    for index, image in enumerate(coco['images']):
        info = dataset.get_data_info(index)
        assert info['img_id'] == image['id']
        assert info['img_path'] == str(fixture_dir / image['file_name'])
        assert (info['width'], info['height']) == (image['width'], image['height']) == (750, 750)
        (instance, ) = info['instances']
        ann = ann_by_image[image['id']]
        assert instance['id'] == ann['id']
        check_instance(instance, ann)


# ------------------------------------------------------------------------------- converter
def test_converter_round_trip_reproduces_the_annotations(fixture_dir, coco, ann_by_image,
                                                         tmp_path):
    split = tmp_path / 'split'
    assert coco_to_per_image(str(fixture_dir / 'deepfashion2_2.json'), str(split),
                             image_dir=str(fixture_dir)) == 2
    start, end = KEYPOINT_SLICES[LABEL]
    for image in coco['images']:
        ann = ann_by_image[image['id']]
        stem = Path(image['file_name']).stem
        per_image = json.loads((split / 'annos' / f'{stem}.json').read_text())
        assert set(per_image) == {'pair_id', 'item1'} and per_image['pair_id'] == ann['pair_id']
        item = per_image['item1']
        assert item['category_id'] == LABEL + 1
        assert item['category_name'] == CATEGORY_NAMES[LABEL] == 'long sleeve dress'
        assert item['bounding_box'] == xyxy(ann)
        assert item['landmarks'] == ann['keypoints'][3 * start:3 * end]  # own 37 triplets
        assert item['style'] == ann['style'] and item['segmentation'] == ann['segmentation']
        assert (split / 'image' / image['file_name']).resolve() == \
            (fixture_dir / image['file_name']).resolve()

    back, problems = per_image_to_coco(str(split))
    assert problems == []
    assert back['images'] == coco['images']
    assert back['categories'] == coco_categories() and back['categories'][LABEL] == \
        coco['categories'][0]
    # annotations renumbered 1, 2 in image order, as the official converter numbers them
    assert [ann['id'] for ann in back['annotations']] == [1, 2]
    for new, image in zip(back['annotations'], coco['images']):
        old = ann_by_image[image['id']]
        # every official field comes back identical; mmpose's fixture also nests a stray
        # "images" list in one annotation, which is no annotation field and is not kept
        assert set(old) - set(new) <= {'images'} and set(new) <= set(old)
        assert {key: value for key, value in new.items() if key != 'id'} == \
            {key: value for key, value in old.items() if key not in ('id', 'images')}

    # the converted per-image layout reads as the same ground truth
    (split / 'back.json').write_text(json.dumps(back))
    dataset = DeepFashion2Dataset(ann_file='back.json', data_root=str(split),
                                  data_prefix=dict(img='image/'), test_mode=True,
                                  serialize_data=False)
    assert [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))] == [264, 265]
    for index, image in enumerate(coco['images']):
        (instance, ) = dataset.get_data_info(index)['instances']
        check_instance(instance, ann_by_image[image['id']])


# ---------------------------------------------------------------------------------- metric
@pytest.fixture(scope='module')
def metric_ann_file(fixture_dir, coco) -> str:
    """The fixture json as it is: it lists only category 11, with the official record."""
    assert coco['categories'] == [coco_categories()[LABEL]]
    return str(fixture_dir / 'deepfashion2_2.json')


def ground_truth_predictions(coco: Dict, ann_by_image: Dict, shift: Sequence[float] = (0, 0)
                             ) -> List[Dict]:
    """One detection per image: the garment's box, label and landmarks (+ ``shift`` px);
    unlabelled slots at the box centre, as a model predicts every slot of its category."""
    samples = []
    for image in coco['images']:
        ann = ann_by_image[image['id']]
        box = np.asarray(xyxy(ann), dtype=np.float64)
        rows = xyv(ann)
        keypoints = np.where(rows[:, 2:] > 0, rows[:, :2], (box[:2] + box[2:]) / 2)
        keypoints = keypoints + np.asarray(shift, dtype=np.float64)
        samples.append(dict(
            img_id=image['id'], ori_shape=(image['height'], image['width']),
            pred_instances=dict(
                bboxes=torch.tensor(box[None], dtype=torch.float32),
                scores=torch.tensor([SCORES[image['id']]]),
                labels=torch.tensor([LABEL]),
                keypoints=torch.tensor(keypoints[None], dtype=torch.float32),
                keypoint_scores=torch.ones(1, NUM_KEYPOINTS))))
    return samples


def evaluate(ann_file: str, samples: List[Dict]) -> Dict[str, float]:
    metric = DeepFashion2Metric(ann_file=ann_file)
    metric.process({}, samples)
    return {key.split('/', 1)[1]: value for key, value in metric.evaluate(len(samples)).items()}


def official_oks(ann: Dict, shift: Sequence[float], visible_only: bool) -> float:
    """The official OKS of the ground truth's own landmarks moved by ``shift`` (pycocotools'
    ``computeOks``: area = the annotation's area, variance (2 sigma)^2)."""
    rows = xyv(ann)
    counted = rows[:, 2] == 2 if visible_only else rows[:, 2] > 0
    variances = (2 * np.asarray(OKS_SIGMAS)) ** 2
    e = (shift[0] ** 2 + shift[1] ** 2) / variances / (ann['area'] + np.spacing(1)) / 2
    return float(np.exp(-e[counted]).mean())


def coco_ap(matched: Sequence[bool], num_gt: int) -> float:
    """COCO's 101-point AP of detections in score order (``matched``: true positive or not)."""
    matched = np.asarray(matched, dtype=bool)
    tp, fp = np.cumsum(matched), np.cumsum(~matched)
    recall = tp / num_gt
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, RECALLS, side='left')
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in index]))


def expected_keypoint_map(coco: Dict, ann_by_image: Dict, shift: Sequence[float],
                          visible_only: bool) -> float:
    """mAP over the OKS thresholds of the two shifted detections (one garment each)."""
    order = sorted(ann_by_image, key=lambda img_id: -SCORES[img_id])
    oks = [official_oks(ann_by_image[img_id], shift, visible_only) for img_id in order]
    assert all(abs(value - t) > 1e-6 for value in oks for t in THRESHOLDS)  # no near-ties
    return float(np.mean([coco_ap([value >= t for value in oks], len(oks)) for t in THRESHOLDS]))


MAP_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_l', 'kpt_mAP', 'kpt_mAP_50',
            'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')


def test_ground_truth_fed_back_scores_one(coco, ann_by_image, metric_ann_file):
    results = evaluate(metric_ann_file, ground_truth_predictions(coco, ann_by_image))
    for key in MAP_KEYS:
        assert results[key] == pytest.approx(1.0, abs=1e-12), key
    # both garments are large (area > 96^2): no medium box to score
    assert all(ann['area'] > 96 ** 2 for ann in coco['annotations'])
    assert math.isnan(results['bbox_mAP_m'])


@pytest.mark.parametrize('shift_px', [5, 10, 20])
def test_landmark_shift_gives_the_official_oks_map(coco, ann_by_image, metric_ann_file,
                                                   shift_px):
    """Every landmark moved ``shift_px`` to the right: boxes still score 1.0, the landmark mAPs
    are the ones the official OKS of the shifted garments implies. These garments are about
    600 px across: a 5 px shift keeps every OKS above 0.95 (mAP still 1.0); 10 px drops one
    image below 0.95 and 20 px both below 0.85."""
    shift = (float(shift_px), 0.0)
    results = evaluate(metric_ann_file, ground_truth_predictions(coco, ann_by_image, shift))
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert results[key] == pytest.approx(1.0, abs=1e-12), key
    for kind, visible_only in (('kpt', False), ('kpt_vis', True)):
        expected = expected_keypoint_map(coco, ann_by_image, shift, visible_only)
        assert results[f'{kind}_mAP'] == pytest.approx(expected, abs=1e-12), kind
        if shift_px >= 10:
            assert expected < 1.0
    if shift_px == 5:
        assert min(official_oks(ann, shift, v) for ann in coco['annotations']
                   for v in (False, True)) > 0.95
