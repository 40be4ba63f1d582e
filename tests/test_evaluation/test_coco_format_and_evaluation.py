# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The pure conversion / evaluation functions behind DeepFashion2Metric."""
import json

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS, OKS_SIGMAS
from deepmark_mm.evaluation.functional import (
    MAX_CATEGORY_SLOTS, build_coco_ground_truth, category_keypoint_results,
    category_landmark_annotations, check_finite_predictions, coco_from_dataset, dump_json_list,
    expand_own_keypoints, gather_own_keypoints, instances_to_coco_annotations, keypoint_results,
    run_coco_eval, run_keypoint_eval_by_category, top_k_per_category, xyxy_to_xywh)


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


def test_xyxy_to_xywh():
    np.testing.assert_array_equal(
        xyxy_to_xywh(np.array([[1.0, 2.0, 11.0, 32.0], [0.5, 0.5, 0.5, 2.5]])),
        [[1.0, 2.0, 10.0, 30.0], [0.5, 0.5, 0.0, 2.0]])


def test_instances_to_coco_annotations_follow_the_official_converter():
    rng = np.random.default_rng(0)
    instance = random_instance(rng, label=3)
    instance['keypoints'][0] = [5.0, 6.0]  # coordinates on an unlabelled slot are dropped
    ann, = instances_to_coco_annotations([instance], img_id=42, first_ann_id=7)
    x1, y1, x2, y2 = instance['bbox']
    assert ann['id'] == 7 and ann['image_id'] == 42 and ann['category_id'] == 4
    assert ann['bbox'] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert ann['area'] == pytest.approx((x2 - x1) * (y2 - y1))
    visible = np.asarray(instance['keypoints_visible'])
    assert ann['num_keypoints'] == int((visible > 0).sum())
    rows = ann['keypoints'].reshape(NUM_KEYPOINTS, 3)
    np.testing.assert_array_equal(rows[:, 2], visible)
    np.testing.assert_array_equal(rows[visible > 0, :2],
                                  np.asarray(instance['keypoints'])[visible > 0])
    assert (rows[visible == 0] == 0).all()


def test_instances_errors_name_the_image_and_instance():
    rng = np.random.default_rng(0)
    good = random_instance(rng, label=0)
    outside = dict(good, keypoints_visible=list(good['keypoints_visible']))
    outside['keypoints_visible'][100] = 2
    with pytest.raises(ValueError, match=r'image 3: instance 1 .*outside its category slice'):
        instances_to_coco_annotations([good, outside], img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 keypoints has shape'):
        instances_to_coco_annotations([dict(good, keypoints=[[0, 0]] * 17)], img_id=3)
    with pytest.raises(ValueError, match=r"image 3: instance 0 has no 'keypoints_visible'"):
        instances_to_coco_annotations([{
            k: v
            for k, v in good.items() if k != 'keypoints_visible'
        }],
                                      img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 bbox_label 13'):
        instances_to_coco_annotations([dict(good, bbox_label=13)], img_id=3)
    with pytest.raises(ValueError, match=r'image 3: instance 0 has non-finite'):
        instances_to_coco_annotations([dict(good, bbox=[0, 0, float('inf'), 1])], img_id=3)
    with pytest.raises(ValueError, match='image 3 was evaluated twice'):
        build_coco_ground_truth([dict(img_id=3, width=1, height=1, anns=[])] * 2)


def test_category_landmark_annotations_slice_and_visible_only():
    rng = np.random.default_rng(1)
    label = 10
    start, end = KEYPOINT_SLICES[label]
    ann, = instances_to_coco_annotations([random_instance(rng, label)], img_id=1)
    full = ann['keypoints'].reshape(NUM_KEYPOINTS, 3)

    both, = category_landmark_annotations([ann], label)
    np.testing.assert_array_equal(both['keypoints'].reshape(-1, 3), full[start:end])
    assert both['num_keypoints'] == ann['num_keypoints']

    visible, = category_landmark_annotations([ann], label, visible_only=True)
    rows = visible['keypoints'].reshape(-1, 3)
    kept = full[start:end, 2] == 2
    np.testing.assert_array_equal(rows[kept], full[start:end][kept])
    assert (rows[~kept] == 0).all()
    assert visible['num_keypoints'] == int(kept.sum()) < ann['num_keypoints']
    # the input is untouched
    np.testing.assert_array_equal(ann['keypoints'].reshape(NUM_KEYPOINTS, 3), full)

    with pytest.raises(ValueError, match='outside its category slice'):
        category_landmark_annotations([ann], label=0)


def test_top_k_per_category_equals_stable_sorting():
    rng = np.random.default_rng(2)
    scores = rng.choice([0.1, 0.5, 0.7, 0.9], 200)  # many ties
    labels = rng.integers(0, 4, 200)
    expected = []
    for label in range(4):
        mine = np.flatnonzero(labels == label)
        expected += mine[np.argsort(-scores[mine], kind='mergesort')][:20].tolist()
    np.testing.assert_array_equal(top_k_per_category(scores, labels, 20), sorted(expected))
    assert len(top_k_per_category(scores[:0], labels[:0], 20)) == 0


def test_gather_expand_round_trip():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 13, 30)
    keypoints = rng.uniform(0, 500, (30, NUM_KEYPOINTS, 2)).astype(np.float32)
    own = gather_own_keypoints(keypoints, labels)
    assert own.shape == (30, MAX_CATEGORY_SLOTS, 2) == (30, 39, 2)
    rows = expand_own_keypoints(own, labels).reshape(30, NUM_KEYPOINTS, 3)
    for i, label in enumerate(labels):
        start, end = KEYPOINT_SLICES[label]
        np.testing.assert_array_equal(rows[i, start:end, :2], keypoints[i, start:end])
        assert (rows[i, start:end, 2] == 1).all()
        assert (np.delete(rows[i], np.s_[start:end], axis=0) == 0).all()
        cat, = category_keypoint_results([9], [0.5], int(label), own[i:i + 1])
        np.testing.assert_array_equal(cat['keypoints'], rows[i, start:end].ravel())
        assert cat['category_id'] == label + 1


def test_keypoint_results_and_json_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    labels = np.array([0, 12])
    keypoints = rng.uniform(0, 100, (2, NUM_KEYPOINTS, 2))
    entries = keypoint_results([5, 5], [0.25, 0.75], labels,
                               gather_own_keypoints(keypoints, labels))
    assert [e['category_id'] for e in entries] == [1, 13]
    assert [e['score'] for e in entries] == [0.25, 0.75]
    assert all(len(e['keypoints']) == 3 * NUM_KEYPOINTS for e in entries)
    path = tmp_path / 'k.json'
    assert dump_json_list(iter(entries), str(path)) == 2
    assert json.loads(path.read_text()) == entries
    assert dump_json_list([], str(path)) == 0 and json.loads(path.read_text()) == []


def test_check_finite_predictions():
    check_finite_predictions(1, bboxes=np.zeros((0, 4)), scores=np.ones(3))
    with pytest.raises(ValueError, match=r'image 8: pred_instances.scores .*detection 2 of 3'):
        check_finite_predictions(8, scores=np.array([1.0, 0.5, np.nan]))


def test_per_category_keypoint_eval_equals_one_run(tmp_path):
    """Merging per-category runs (own slots, sliced sigmas) gives the single 882-slot run's
    numbers whenever every ground truth has a labelled slot."""
    rng = np.random.default_rng(5)
    gts, dets = [], []
    for img_id in range(1, 9):
        instances = [random_instance(rng, int(label)) for label in rng.choice([0, 4, 8], 3)]
        gts.append(dict(img_id=img_id, width=300, height=400, anns=instances))
        for inst in instances + [random_instance(rng, 4)]:  # plus a false positive
            keypoints = np.asarray(inst['keypoints']) + rng.normal(0, 4, (NUM_KEYPOINTS, 2))
            dets.append((img_id, rng.uniform(), inst['bbox_label'], keypoints))
    coco_gt = coco_from_dataset(build_coco_ground_truth(gts))
    img_ids = list(range(1, 9))
    img_of, scores, labels, keypoints = (np.array(v) for v in zip(*dets))
    own = gather_own_keypoints(keypoints, labels)

    one_run, _ = run_coco_eval(coco_gt, keypoint_results(img_of, scores, labels, own), 'keypoints',
                               img_ids)

    def runs():
        sigmas = np.asarray(OKS_SIGMAS)
        for cat_id in sorted(coco_gt.getCatIds()):
            label = cat_id - 1
            start, end = KEYPOINT_SLICES[label]
            anns = category_landmark_annotations(
                coco_gt.loadAnns(coco_gt.getAnnIds(catIds=[cat_id])), label)
            gt = coco_from_dataset(
                dict(
                    images=coco_gt.dataset['images'],
                    annotations=anns,
                    categories=[coco_gt.cats[cat_id]]))
            mine = labels == label
            yield cat_id, gt, category_keypoint_results(img_of[mine], scores[mine], label,
                                                        own[mine]), sigmas[start:end]

    merged, table = run_keypoint_eval_by_category(runs(), img_ids)
    assert 0.2 < one_run.stats[0] < 0.95
    np.testing.assert_allclose(merged.stats[:3], one_run.stats[:3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        merged.eval['precision'][..., 0, :],
        one_run.eval['precision'][..., 0, :],
        rtol=0,
        atol=1e-12)
    assert 'Average Precision' in table
