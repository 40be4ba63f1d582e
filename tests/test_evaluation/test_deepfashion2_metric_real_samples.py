# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2Metric on the 32 real DeepFashion2 samples of ../shared (skipped when absent)."""
import copy
import json

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES, OKS_SIGMAS
from deepmark_mm.evaluation import DeepFashion2Metric

ALL_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'kpt_mAP', 'kpt_mAP_50', 'kpt_mAP_75',
            'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')


def test_package_sigmas_are_the_official_ones(helpers):
    spec = helpers.SAMPLES_DIR / 'spec' / 'kpt_oks_sigmas_294.json'
    if not spec.is_file():
        pytest.skip(f'{spec} is absent')
    official = json.loads(spec.read_text())
    official = official['sigmas'] if isinstance(official, dict) else official
    np.testing.assert_array_equal(np.asarray(OKS_SIGMAS), np.asarray(official, dtype=float))


def test_ground_truth_fed_back_scores_one(helpers, demo_gt_predictions, demo_samples):
    results = helpers.evaluate(DeepFashion2Metric(), demo_samples(demo_gt_predictions()))
    for key in ALL_KEYS + ('bbox_mAP_l', ):
        assert results[key] == pytest.approx(1.0, abs=1e-12), key


def test_wrong_category_scores_zero(helpers, demo_coco, demo_gt_predictions, demo_samples):
    present = {ann['category_id'] - 1 for ann in demo_coco['annotations']}
    absent = sorted(set(range(len(CLASSES))) - present)
    assert absent == [2, 5, 10]
    label_map = {label: absent[i % len(absent)] for i, label in enumerate(sorted(present))}
    predictions = demo_gt_predictions(label_map=label_map)
    results = helpers.evaluate(DeepFashion2Metric(), demo_samples(predictions))
    for key in ALL_KEYS:
        assert results[key] == 0.0, key


def test_landmark_noise_lowers_landmark_map_monotonically(helpers, demo_gt_predictions,
                                                          demo_samples):
    rows = []
    for noise in (0, 2, 5, 10, 20):
        results = helpers.evaluate(DeepFashion2Metric(),
                                   demo_samples(demo_gt_predictions(noise_px=noise, seed=3)))
        rows.append((results['bbox_mAP'], results['kpt_mAP'], results['kpt_vis_mAP']))
    bbox, kpt, kpt_vis = (np.array(column) for column in zip(*rows))
    np.testing.assert_allclose(bbox, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose([kpt[0], kpt_vis[0]], 1.0, rtol=0, atol=1e-12)
    assert (np.diff(kpt) < 0).all(), kpt
    assert (np.diff(kpt_vis) < 0).all(), kpt_vis
    assert kpt[-1] < 0.5


def test_ann_file_and_instances_give_identical_results(helpers, demo_gt_predictions, demo_samples):
    predictions = demo_gt_predictions(noise_px=6, seed=1)
    from_file = helpers.evaluate(
        DeepFashion2Metric(ann_file=str(helpers.DEMO_ANN_FILE)),
        demo_samples(predictions, with_instances=False))
    from_instances = helpers.evaluate(DeepFashion2Metric(), demo_samples(predictions))
    assert from_file.keys() == from_instances.keys()
    np.testing.assert_array_equal(list(from_file.values()), list(from_instances.values()))
    assert 0.2 < from_file['kpt_mAP'] < 0.95


def test_ann_file_subset_evaluates_only_predicted_images(helpers, demo_gt_predictions,
                                                         demo_samples):
    predictions = demo_gt_predictions(noise_px=6, seed=1)
    subset = dict(list(predictions.items())[:10])
    from_file = helpers.evaluate(
        DeepFashion2Metric(ann_file=str(helpers.DEMO_ANN_FILE)),
        demo_samples(subset, with_instances=False))
    from_instances = helpers.evaluate(DeepFashion2Metric(), demo_samples(subset))
    np.testing.assert_equal(from_file, from_instances)  # NaN == NaN here


def test_numbers_equal_stock_pycocotools_on_the_written_file(helpers, demo_coco,
                                                             demo_gt_predictions, demo_samples,
                                                             tmp_path):
    """The official tool (stock pycocotools, 294 sigmas) on our result file gives our numbers."""
    predictions = demo_gt_predictions(noise_px=6, seed=2)
    metric = DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res'))
    ours = helpers.evaluate(metric, demo_samples(predictions))
    img_ids = sorted(predictions)
    stock = helpers.stock_coco_stats(
        copy.deepcopy(demo_coco), str(tmp_path / 'res.keypoints.json'), img_ids, 'keypoints')
    np.testing.assert_allclose([ours['kpt_mAP'], ours['kpt_mAP_50'], ours['kpt_mAP_75']],
                               stock[:3],
                               rtol=0,
                               atol=1e-12)

    # visible-only ground truth, written as the official converter would (no garment of these
    # images is left without a visible landmark except in image 2092, left out here)
    visible_gt = copy.deepcopy(demo_coco)
    for ann in visible_gt['annotations']:
        rows = np.asarray(ann['keypoints'], dtype=float).reshape(-1, 3)
        rows[rows[:, 2] != 2] = 0
        ann['keypoints'], ann['num_keypoints'] = rows.ravel().tolist(), int((rows[:, 2] > 0).sum())
    kept = [i for i in img_ids if i != 2092]
    assert all(ann['num_keypoints'] > 0 for ann in visible_gt['annotations']
               if ann['image_id'] in kept)
    subset = {i: predictions[i] for i in kept}
    ours_vis = helpers.evaluate(
        DeepFashion2Metric(outfile_prefix=str(tmp_path / 'sub')), demo_samples(subset))
    stock_vis = helpers.stock_coco_stats(visible_gt, str(tmp_path / 'sub.keypoints.json'), kept,
                                         'keypoints')
    np.testing.assert_allclose(
        [ours_vis['kpt_vis_mAP'], ours_vis['kpt_vis_mAP_50'], ours_vis['kpt_vis_mAP_75']],
        stock_vis[:3],
        rtol=0,
        atol=1e-12)
    assert ours_vis['kpt_vis_mAP'] != ours_vis['kpt_mAP']


def test_format_only_matches_the_official_example_structure(helpers, demo_gt_predictions,
                                                            demo_samples, tmp_path):
    examples = helpers.SAMPLES_DIR / 'official_examples'
    official_boxes = json.loads((examples / 'example_bbox_results.json').read_text())
    official_keys = json.loads((examples / 'example_keys_results.json').read_text())
    predictions = demo_gt_predictions(noise_px=2)
    metric = DeepFashion2Metric(format_only=True, outfile_prefix=str(tmp_path / 'sub'))
    assert helpers.evaluate(metric, demo_samples(predictions, with_instances=False)) == {}
    boxes = json.loads((tmp_path / 'sub.bbox.json').read_text())
    keys = json.loads((tmp_path / 'sub.keypoints.json').read_text())

    num_detections = sum(len(p['labels']) for p in predictions.values())
    assert len(boxes) == len(keys) == num_detections
    for ours, official in ((boxes, official_boxes), (keys, official_keys)):
        assert {frozenset(entry) for entry in ours} == {frozenset(official[0])}
        for field in official[0]:
            assert {type(entry[field]) for entry in ours} == {type(official[0][field])}, field
    assert {len(entry['bbox']) for entry in boxes} == {4}
    assert {len(entry['keypoints']) for entry in keys} == {len(official_keys[0]['keypoints'])}
    assert {entry['category_id'] for entry in keys} <= set(range(1, 14))
    first_img = sorted(predictions)[0]
    pred = predictions[first_img]
    x1, y1, x2, y2 = pred['bboxes'][0]
    assert boxes[0]['image_id'] == first_img
    assert boxes[0]['bbox'] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-4)
    assert boxes[0]['score'] == keys[0]['score'] == pytest.approx(pred['scores'][0], abs=1e-6)
