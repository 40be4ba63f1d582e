# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The COCO-layout conversions behind DeepFashion2Metric, and its per-category evaluation."""
import json

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.evaluation import DeepFashion2Metric
from deepmark_mm.evaluation.metrics.deepfashion2_coco import (
    bbox_entries, build_coco_ground_truth, category_keypoint_entries, category_keypoint_annotations,
    dump_json_list, keypoint_entries, own_keypoints, top_k_per_category)


def random_instance(rng, label, width=300, height=400) -> dict:
    """A random garment of ``label`` with random visibilities on its own slots."""
    x1, y1 = rng.uniform(0, width / 2), rng.uniform(0, height / 2)
    x2, y2 = x1 + rng.uniform(30, width / 2), y1 + rng.uniform(30, height / 2)
    start, end = KEYPOINT_SLICES[label]
    keypoints = np.zeros((NUM_KEYPOINTS, 2))
    visible = np.zeros(NUM_KEYPOINTS, dtype=int)
    keypoints[start:end] = rng.uniform((x1, y1), (x2, y2), (end - start, 2))
    visible[start:end] = rng.choice([0, 1, 2, 2], end - start)
    visible[start] = 2
    return dict(
        bbox=[x1, y1, x2, y2],
        bbox_label=label,
        ignore_flag=0,
        keypoints=keypoints.tolist(),
        keypoints_visible=visible.tolist())


def test_bbox_entries_are_xywh():
    boxes = np.array([[1.0, 2.0, 11.0, 32.0], [0.5, 0.5, 0.5, 2.5]], dtype=np.float32)
    entries = bbox_entries(np.array([4, 5]), boxes, np.array([0.5, 0.25], dtype=np.float32),
                           np.array([0, 12]))
    assert entries == [dict(image_id=4, category_id=1, bbox=[1.0, 2.0, 10.0, 30.0], score=0.5),
                       dict(image_id=5, category_id=13, bbox=[0.5, 0.5, 0.0, 2.0], score=0.25)]


def ground_truth(instances, img_id=1):
    return build_coco_ground_truth([dict(img_id=img_id, width=300, height=400, anns=instances)])


def test_ground_truth_follows_the_official_converter():
    rng = np.random.default_rng(0)
    instance = random_instance(rng, label=3)
    instance['keypoints'][0] = [5.0, 6.0]  # coordinates on an unlabelled slot are dropped
    gt = ground_truth([instance], img_id=42)
    ann, = gt['annotations']
    assert gt['images'] == [dict(id=42, width=300, height=400, file_name='')]
    assert [cat['id'] for cat in gt['categories']] == list(range(1, 14))
    x1, y1, x2, y2 = instance['bbox']
    assert ann['id'] == 1 and ann['image_id'] == 42 and ann['category_id'] == 4
    assert ann['bbox'] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert ann['area'] == pytest.approx((x2 - x1) * (y2 - y1))
    visible = np.asarray(instance['keypoints_visible'])
    assert ann['num_keypoints'] == int((visible > 0).sum())
    rows = ann['keypoints'].reshape(NUM_KEYPOINTS, 3)
    np.testing.assert_array_equal(rows[:, 2], visible)
    np.testing.assert_array_equal(rows[visible > 0, :2],
                                  np.asarray(instance['keypoints'])[visible > 0])
    assert (rows[visible == 0] == 0).all()


def test_ground_truth_errors_name_the_image_and_instance():
    rng = np.random.default_rng(0)
    good = random_instance(rng, label=0)
    outside = dict(good, keypoints_visible=list(good['keypoints_visible']))
    outside['keypoints_visible'][100] = 2
    with pytest.raises(ValueError, match=r'image 3: instance 1 .*outside its category slice'):
        ground_truth([good, outside], img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 needs .*keypoints \(294, 2\)'):
        ground_truth([dict(good, keypoints=[[0, 0]] * 17)], img_id=3)
    with pytest.raises(ValueError, match=r"instance 0 needs .*KeyError\('keypoints_visible'"):
        ground_truth([{k: v for k, v in good.items() if k != 'keypoints_visible'}], img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 bbox_label 13'):
        ground_truth([dict(good, bbox_label=13)], img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 has non-finite'):
        ground_truth([dict(good, bbox=[0, 0, float('inf'), 1])], img_id=3)


def test_category_landmark_annotations_slice_and_visible_only():
    rng = np.random.default_rng(1)
    label = 10
    start, end = KEYPOINT_SLICES[label]
    ann, = ground_truth([random_instance(rng, label)])['annotations']
    full = ann['keypoints'].reshape(NUM_KEYPOINTS, 3)

    both, = category_keypoint_annotations([ann], label)
    np.testing.assert_array_equal(both['keypoints'].reshape(-1, 3), full[start:end])
    assert both['num_keypoints'] == ann['num_keypoints']

    visible, = category_keypoint_annotations([ann], label, visible_only=True)
    rows = visible['keypoints'].reshape(-1, 3)
    kept = full[start:end, 2] == 2
    np.testing.assert_array_equal(rows[kept], full[start:end][kept])
    assert (rows[~kept] == 0).all()
    assert visible['num_keypoints'] == int(kept.sum()) < ann['num_keypoints']
    # the input is untouched
    np.testing.assert_array_equal(ann['keypoints'].reshape(NUM_KEYPOINTS, 3), full)


def test_top_k_per_category_equals_stable_sorting():
    rng = np.random.default_rng(2)
    scores = rng.choice([0.1, 0.5, 0.7, 0.9], 200).astype(np.float32)  # many ties
    labels = rng.integers(0, 4, 200)
    expected = []
    for label in range(4):
        mine = np.flatnonzero(labels == label)
        expected += mine[np.argsort(-scores[mine], kind='mergesort')][:20].tolist()
    np.testing.assert_array_equal(top_k_per_category(scores, labels, 20), sorted(expected))
    assert len(top_k_per_category(scores[:0], labels[:0], 20)) == 0


def test_own_keypoints_and_result_entries():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 13, 30)
    keypoints = rng.uniform(0, 500, (30, NUM_KEYPOINTS, 2)).astype(np.float32)
    own = own_keypoints(keypoints, labels, KEYPOINT_SLICES)
    assert own.shape == (30, 39, 2)  # long sleeve outwear: 39 slots
    entries = list(keypoint_entries(np.full(30, 9), np.full(30, 0.5), labels, own,
                                    KEYPOINT_SLICES))
    for i, label in enumerate(labels):
        start, end = KEYPOINT_SLICES[label]
        rows = np.asarray(entries[i]['keypoints']).reshape(NUM_KEYPOINTS, 3)
        np.testing.assert_array_equal(rows[start:end, :2], keypoints[i, start:end])
        assert (rows[start:end, 2] == 1).all()
        assert (np.delete(rows, np.s_[start:end], axis=0) == 0).all()
        cat, = category_keypoint_entries(np.array([9]), np.array([0.5]), int(label),
                                         own[i:i + 1], KEYPOINT_SLICES)
        np.testing.assert_array_equal(cat['keypoints'], rows[start:end].ravel())
        assert cat['category_id'] == entries[i]['category_id'] == label + 1


def test_keypoint_entries_and_json_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    labels = np.array([0, 12])
    keypoints = rng.uniform(0, 100, (2, NUM_KEYPOINTS, 2)).astype(np.float32)
    entries = list(keypoint_entries(np.array([5, 5]), np.array([0.25, 0.75], dtype=np.float32),
                                    labels, own_keypoints(keypoints, labels, KEYPOINT_SLICES),
                                    KEYPOINT_SLICES))
    assert [e['category_id'] for e in entries] == [1, 13]
    assert [e['score'] for e in entries] == [0.25, 0.75]
    assert all(len(e['keypoints']) == 3 * NUM_KEYPOINTS for e in entries)
    path = tmp_path / 'k.json'
    dump_json_list(iter(entries), str(path))
    assert path.read_text() == json.dumps(entries)  # json.dump's bytes
    dump_json_list([], str(path))
    assert json.loads(path.read_text()) == []


def test_non_finite_prediction_names_image_field_and_detection(helpers):
    empty = np.zeros((3, NUM_KEYPOINTS, 2))
    pred = helpers.make_prediction(np.tile([[0.0, 0.0, 5.0, 5.0]], (3, 1)), [1.0, 0.5, np.nan],
                                   [0, 1, 2], empty)
    with pytest.raises(ValueError, match=r'image 8: pred_instances.scores .*detection 2 of 3'):
        DeepFashion2Metric().process({}, [helpers.make_sample(8, 10, 10, pred, [])])


def test_per_category_keypoint_eval_equals_one_stock_run(helpers, tmp_path):
    """Merging per-category runs (own slots, sliced sigmas) gives the numbers of stock pycocotools
    on the 882-slot result file whenever every ground truth has a labelled slot."""
    rng = np.random.default_rng(5)
    gts, samples = [], []
    for img_id in range(1, 9):
        instances = [random_instance(rng, int(label)) for label in rng.choice([0, 4, 8], 3)]
        gts.append(dict(img_id=img_id, width=300, height=400, anns=instances))
        dets = instances + [random_instance(rng, 4)]  # plus a false positive
        keypoints = [np.asarray(inst['keypoints']) + rng.normal(0, 4, (NUM_KEYPOINTS, 2))
                     for inst in dets]
        pred = helpers.make_prediction([inst['bbox'] for inst in dets], rng.uniform(size=len(dets)),
                                       [inst['bbox_label'] for inst in dets], keypoints)
        samples.append(helpers.make_sample(img_id, 400, 300, pred, instances))
    ours = helpers.evaluate(DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res')), samples)
    stock = helpers.stock_coco_stats(build_coco_ground_truth(gts),
                                     str(tmp_path / 'res.keypoints.json'), None, 'keypoints')
    assert 0.2 < stock[0] < 0.95
    np.testing.assert_allclose([ours['kpt_mAP'], ours['kpt_mAP_50'], ours['kpt_mAP_75']],
                               stock[:3], rtol=0, atol=1e-12)
