# Copyright (c) deepmark_mm contributors. All rights reserved.
"""MatchedKeypointMetric: COCO-like matching, then mmpose's PCK / AUC / EPE on the matched pairs."""
import math

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpose.evaluation.functional import keypoint_auc, keypoint_epe, keypoint_pck_accuracy

from mmdet.registry import METRICS
from deepmark_mm.datasets.fld_dataset import get_fld_metainfo
from deepmark_mm.evaluation import MatchedKeypointMetric

META = get_fld_metainfo()
K = 18
SLICES = [tuple(s) for s in META['keypoint_slices']]  # [(0, 6), (6, 10), (10, 18)]
UPPER, LOWER, FULL = 0, 1, 2


def garment(label, box, seed=0, ignore=0):
    """A raw ground truth instance: integer landmarks inside ``box`` on the label's slots only."""
    start, end = SLICES[label]
    rng = np.random.default_rng(seed)
    points = np.zeros((K, 2))
    points[start:end, 0] = rng.integers(box[0], box[2] + 1, end - start)
    points[start:end, 1] = rng.integers(box[1], box[3] + 1, end - start)
    visible = np.zeros(K, dtype=int)
    visible[start:end] = rng.choice([1, 2], end - start)
    return dict(bbox=[float(v) for v in box], bbox_label=label, ignore_flag=ignore,
                keypoints=points.tolist(), keypoints_visible=visible.tolist())


def detection(gt, score=0.9, label=None, box=None, shift=(0.0, 0.0), keypoints=None):
    """One detection on ``gt``: its box and landmarks (every slot), optionally moved."""
    points = np.asarray(gt['keypoints'] if keypoints is None else keypoints, dtype=np.float64)
    return dict(bbox=gt['bbox'] if box is None else box, score=score,
                label=gt['bbox_label'] if label is None else label,
                keypoints=points + np.asarray(shift))


def sample(img_id, gts, dets):
    """A data sample as mmengine's Evaluator hands it to ``process`` (tensors, float32)."""
    pred = dict(
        bboxes=torch.tensor([d['bbox'] for d in dets], dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor([d['score'] for d in dets], dtype=torch.float32),
        labels=torch.tensor([d['label'] for d in dets], dtype=torch.int64),
        keypoints=torch.tensor(np.array([d['keypoints'] for d in dets]),
                               dtype=torch.float32).reshape(-1, K, 2))
    return dict(img_id=img_id, ori_shape=(480, 640), pred_instances=pred, instances=gts)


def evaluate(samples, **kwargs):
    metric = MatchedKeypointMetric(**kwargs)
    metric.dataset_meta = META
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert all(key.startswith(metric.prefix + '/') for key in results)
    return {key.split('/', 1)[1]: value for key, value in results.items()}


def test_registry_and_defaults():
    with DefaultScope.overwrite_default_scope('mmdet'):  # the runner's scope
        metric = METRICS.build(dict(type='MatchedKeypointMetric'))
    assert metric.prefix == 'matched' and metric.iou_thr == 0.5
    assert [type(m).__name__ for m in metric.pose_metrics] == ['PCKAccuracy', 'AUC', 'EPE']
    assert metric.pose_metrics[0].thr == 0.2 and metric.pose_metrics[0].norm_item == ['bbox']
    assert metric.pose_metrics[1].norm_factor == 30  # pixels


def test_perfect_predictions():
    gts = [garment(UPPER, [10, 20, 110, 70], 1), garment(LOWER, [200, 100, 240, 180], 2)]
    full = garment(FULL, [50, 50, 250, 400], 3)
    out = evaluate([sample(1, gts, [detection(g) for g in gts]),
                    sample(2, [full], [detection(full)])])
    assert out['PCK'] == 1.0 and out['EPE'] == 0.0 and out['matched'] == 1.0
    # mmpose's AUC thresholds are i / 20, i = 0..19, with a strict "<": threshold 0 never counts
    assert out['AUC'] == pytest.approx(0.95, abs=1e-12)


def test_known_shift_epe_pck_auc():
    """4 px in x: EPE 4; PCK@0.2 by the longer box side: 20 px on the 100 x 50 upper-body box
    (all 6 correct), 2 px on the two 10 x 8 lower-body boxes (all 8 wrong). mmpose averages the
    per-slot accuracies: slots 0-5 at 1, slots 6-9 at 0 -> 0.6 (pooled it would be 6 / 14).
    AUC: 4 / 30 px = 0.133 is below the thresholds 0.15 .. 0.95 -> 17 / 20."""
    gts = [garment(UPPER, [10, 20, 110, 70], 1), garment(LOWER, [200, 100, 210, 108], 2)]
    lower = garment(LOWER, [300, 300, 310, 308], 3)
    out = evaluate([sample(1, gts, [detection(g, shift=(4, 0)) for g in gts]),
                    sample(2, [lower], [detection(lower, shift=(4, 0))])])
    assert out['EPE'] == 4.0
    assert out['PCK'] == pytest.approx(0.6, abs=1e-12)
    assert out['AUC'] == pytest.approx(0.85, abs=1e-12)
    assert out['matched'] == 1.0


def test_shift_of_3px_in_x():
    gt = garment(UPPER, [0, 0, 100, 50], 4)  # PCK threshold 20 px
    out = evaluate([sample(1, [gt], [detection(gt, shift=(3, 0))])])
    assert out['EPE'] == 3.0 and out['PCK'] == 1.0


def test_unmatched_detections_are_not_scored():
    upper, lower = garment(UPPER, [0, 0, 100, 100], 1), garment(LOWER, [200, 0, 300, 100], 2)
    far = (1000.0, 1000.0)
    wrong_label = detection(lower, label=FULL, shift=far, score=0.99)
    out = evaluate([sample(1, [upper, lower], [detection(upper), wrong_label])])
    assert out == dict(PCK=1.0, AUC=pytest.approx(0.95), EPE=0.0, matched=0.5)
    # same label, IoU 40 x 100 / (2 * 10000 - 4000) = 0.25 < 0.5
    low_iou = detection(lower, box=[260, 0, 360, 100], shift=far, score=0.99)
    out = evaluate([sample(1, [upper, lower], [detection(upper), low_iou])])
    assert out['matched'] == 0.5 and out['EPE'] == 0.0 and out['PCK'] == 1.0
    # ... matched at a lower iou_thr
    out = evaluate([sample(1, [upper, lower], [detection(upper), low_iou])], iou_thr=0.2)
    assert out['matched'] == 1.0 and out['EPE'] == pytest.approx(
        (6 * 0 + 4 * math.hypot(*far)) / 10, rel=1e-6)


def test_only_the_higher_score_duplicate_is_scored():
    gt = garment(FULL, [0, 0, 200, 300], 5)
    good, bad = detection(gt, score=0.8), detection(gt, score=0.7, shift=(60, 80))
    out = evaluate([sample(1, [gt], [bad, good])])
    assert out['EPE'] == 0.0 and out['PCK'] == 1.0 and out['matched'] == 1.0
    good['score'], bad['score'] = 0.7, 0.8
    out = evaluate([sample(1, [gt], [good, bad])])
    assert out['EPE'] == 100.0 and out['PCK'] == 0.0 and out['matched'] == 1.0  # 100 > 0.2 * 300


def test_slots_outside_the_category_do_not_count():
    gt = garment(LOWER, [0, 0, 100, 200], 6)
    points = np.asarray(gt['keypoints'], dtype=np.float64)
    points[[i for i in range(K) if not SLICES[LOWER][0] <= i < SLICES[LOWER][1]]] = 1e4
    out = evaluate([sample(1, [gt], [detection(gt, keypoints=points)])])
    assert out['EPE'] == 0.0 and out['PCK'] == 1.0


def test_ignored_ground_truth_is_left_out():
    kept, ignored = garment(UPPER, [0, 0, 100, 100], 1), garment(UPPER, [200, 0, 300, 100], 2, 1)
    out = evaluate([sample(1, [kept, ignored],
                           [detection(kept), detection(ignored, shift=(50, 0))])])
    assert out['matched'] == 1.0 and out['EPE'] == 0.0


def test_no_match_is_nan_with_a_warning():
    gt = garment(UPPER, [0, 0, 100, 100], 1)
    with pytest.warns(UserWarning, match='no detection matched'):
        out = evaluate([sample(1, [gt], [detection(gt, label=LOWER)]), sample(2, [gt], [])])
    assert set(out) == {'PCK', 'AUC', 'EPE', 'matched'}
    assert all(math.isnan(out[key]) for key in ('PCK', 'AUC', 'EPE')) and out['matched'] == 0.0
    with pytest.warns(UserWarning, match='no detection matched'):
        out = evaluate([sample(1, [], [detection(gt)])])
    assert math.isnan(out['matched'])


def test_one_record_per_image_and_reset():
    """Cross-rank collection cuts ``results`` to the dataset size: one record per image."""
    gts = [garment(UPPER, [0, 0, 100, 100], 1), garment(LOWER, [200, 0, 300, 100], 2)]
    metric = MatchedKeypointMetric()
    metric.process({}, [sample(1, gts, [detection(g) for g in gts])])
    assert len(metric.results) == 1 and len(metric.results[0]['pairs']) == 2
    assert metric.evaluate(1)['matched/matched'] == 1.0
    assert metric.results == [] and all(m.results == [] for m in metric.pose_metrics)


def test_passes_data_to_mmpose_unchanged():
    """Random garments and noisy detections vs mmpose's functions on the same arrays."""
    rng = np.random.default_rng(0)
    samples, preds, gts_kpts, masks, sides = [], [], [], [], []
    for img_id in range(8):
        gts, dets = [], []
        for j in range(3):
            label = int(rng.integers(0, 3))
            x, y = rng.integers(0, 300, 2)
            w, h = rng.integers(10, 200, 2)
            gt = garment(label, [x + 250 * j, y, x + 250 * j + w, y + h], int(rng.integers(1e6)))
            det = detection(gt, score=float(rng.uniform()),
                            shift=rng.normal(0, 0.1 * max(w, h), (K, 2)).round(2))
            gts.append(gt)
            dets.append(det)
        samples.append(sample(img_id, gts, dets))
        for j in np.argsort([-np.float32(d['score']) for d in dets], kind='stable'):  # pair order
            preds.append(dets[j]['keypoints'].astype(np.float32))
            gts_kpts.append(gts[j]['keypoints'])
            masks.append(np.asarray(gts[j]['keypoints_visible']) > 0)
            box = gts[j]['bbox']
            sides.append(max(box[2] - box[0], box[3] - box[1]))
    pred, gt, mask = np.array(preds, dtype=np.float64), np.array(gts_kpts), np.array(masks)
    norm = np.repeat(np.array(sides, dtype=np.float64)[:, None], 2, axis=1)
    out = evaluate(samples)
    assert out['matched'] == 1.0
    assert out['PCK'] == keypoint_pck_accuracy(pred, gt, mask, 0.2, norm)[1]
    assert out['AUC'] == keypoint_auc(pred, gt, mask, 30)
    assert out['EPE'] == keypoint_epe(pred, gt, mask)
    assert 0.0 < out['PCK'] < 1.0 and 0.0 < out['AUC'] < 0.95 and out['EPE'] > 0.0
