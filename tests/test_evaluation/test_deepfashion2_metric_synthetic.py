# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2Metric on hand-built images whose OKS / IoU are computed here from the formulas."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmdet.registry import METRICS
from mmdet.structures import DetDataSample
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS, OKS_SIGMAS
from deepmark_mm.evaluation import DeepFashion2Metric
from deepmark_mm.evaluation.metrics.deepfashion2_coco import build_coco_ground_truth

SKIRT = 8
SKIRT_START, SKIRT_END = KEYPOINT_SLICES[SKIRT]
BOX = (40.0, 60.0, 140.0, 260.0)  # w 100, h 200: OKS area 20000
HEIGHT, WIDTH = 300, 200


def skirt_keypoints(offset=(0.0, 0.0), shift=(0.0, 0.0)) -> np.ndarray:
    """(294, 2) skirt landmarks on a diagonal inside BOX (moved by ``shift``), plus ``offset``."""
    keypoints = np.zeros((NUM_KEYPOINTS, 2))
    n = SKIRT_END - SKIRT_START
    keypoints[SKIRT_START:SKIRT_END, 0] = 50 + 10 * np.arange(n) + shift[0] + offset[0]
    keypoints[SKIRT_START:SKIRT_END, 1] = 100 + 15 * np.arange(n) + shift[1] + offset[1]
    return keypoints


def skirt_instance(visible=(2, 2, 2, 2, 2, 2, 1, 1), box=BOX, shift=(0.0, 0.0)) -> dict:
    """A skirt instance in the dataset's raw layout."""
    visibility = np.zeros(NUM_KEYPOINTS, dtype=int)
    visibility[SKIRT_START:SKIRT_END] = visible
    keypoints = np.where(visibility[:, None] > 0, skirt_keypoints(shift=shift), 0.0)
    return dict(
        bbox=list(box),
        bbox_label=SKIRT,
        ignore_flag=0,
        keypoints=keypoints.tolist(),
        keypoints_visible=visibility.tolist(),
        area=(box[2] - box[0]) * (box[3] - box[1]))


def hand_oks(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: float) -> float:
    """OKS = mean over labelled slots of exp(-d^2 / (2 * area * (2 sigma)^2))."""
    labelled = visible > 0
    d2 = ((pred - gt)**2).sum(-1)[labelled]
    k2 = (2 * np.asarray(OKS_SIGMAS)[labelled])**2
    return float(np.mean(np.exp(-d2 / (2 * area * k2))))


def hand_iou(a, b) -> float:
    """IoU of two xyxy boxes (continuous coordinates, as pycocotools)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def ap_of_single_match(similarity: float, thresholds: np.ndarray) -> float:
    """One ground truth, one detection: AP at t is 1 when similarity >= t, else 0."""
    assert np.abs(similarity - thresholds).min() > 1e-3, 'test value too close to a threshold'
    return float(np.mean(similarity >= thresholds))


def one_skirt_sample(helpers,
                     pred_keypoints,
                     pred_box=BOX,
                     instances=None,
                     score=0.9,
                     img_id=1) -> dict:
    instances = [skirt_instance()] if instances is None else instances
    return helpers.make_sample(
        img_id, HEIGHT, WIDTH,
        helpers.make_prediction([pred_box], [score], [SKIRT], [pred_keypoints]), instances)


def test_registered_and_keys(helpers):
    metric = METRICS.build(dict(type='DeepFashion2Metric'))
    assert isinstance(metric, DeepFashion2Metric)
    metric.process({}, [one_skirt_sample(helpers, skirt_keypoints())])
    results = metric.evaluate(1)
    assert sorted(results) == sorted(
        f'deepfashion2/{key}'
        for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_m', 'bbox_mAP_l', 'kpt_mAP',
                    'kpt_mAP_50', 'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75'))


@pytest.mark.parametrize('offset', [(3.0, 4.0), (6.0, -8.0), (0.0, 8.0)])
def test_landmark_ap_matches_hand_computed_oks(helpers, offset):
    instance = skirt_instance()
    gt = np.asarray(instance['keypoints'])
    visible = np.asarray(instance['keypoints_visible'])
    pred = skirt_keypoints(offset=offset)
    oks = hand_oks(pred, gt, visible, area=20000.0)
    vis_oks = hand_oks(pred, gt, (visible == 2).astype(int), area=20000.0)
    results = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, pred)])

    expected = ap_of_single_match(oks, helpers.THRESHOLDS)
    assert 0.0 < expected < 1.0
    assert results['kpt_mAP'] == pytest.approx(expected, abs=1e-12)
    assert results['kpt_mAP_50'] == pytest.approx(float(oks >= 0.5), abs=1e-12)
    assert results['kpt_mAP_75'] == pytest.approx(float(oks >= 0.75), abs=1e-12)
    assert results['kpt_vis_mAP'] == pytest.approx(
        ap_of_single_match(vis_oks, helpers.THRESHOLDS), abs=1e-12)
    # the box is exact (pycocotools' precision tp / (tp + fp + eps) is 1 - 2e-16)
    assert results['bbox_mAP'] == pytest.approx(1.0, abs=1e-12)


def test_box_ap_matches_hand_computed_iou(helpers):
    pred_box = (BOX[0] + 10, BOX[1] - 5, BOX[2] + 10, BOX[3] - 5)
    iou = hand_iou(pred_box, BOX)
    results = helpers.evaluate(
        DeepFashion2Metric(metric='bbox'), [one_skirt_sample(helpers, skirt_keypoints(), pred_box)])
    expected = ap_of_single_match(iou, helpers.THRESHOLDS)
    assert 0.0 < expected < 1.0
    assert results['bbox_mAP'] == pytest.approx(expected, abs=1e-12)
    assert results['bbox_mAP_50'] == pytest.approx(float(iou >= 0.5), abs=1e-12)
    assert results['bbox_mAP_75'] == pytest.approx(float(iou >= 0.75), abs=1e-12)
    # 100 x 200 box: large; there is no medium ground truth
    assert results['bbox_mAP_l'] == results['bbox_mAP']
    assert math.isnan(results['bbox_mAP_m'])
    assert not any(key.startswith('kpt') for key in results)


def test_oks_area_is_box_area_not_instance_area(helpers):
    """The OKS area is w * h of the ground-truth box whatever ``area`` the instance carries."""
    instance = skirt_instance()
    instance['area'] = 1.0  # would make every OKS ~ 0 if used
    pred = skirt_keypoints(offset=(3.0, 4.0))
    oks = hand_oks(
        pred,
        np.asarray(instance['keypoints']),
        np.asarray(instance['keypoints_visible']),
        area=20000.0)
    results = helpers.evaluate(DeepFashion2Metric(),
                               [one_skirt_sample(helpers, pred, instances=[instance])])
    assert results['kpt_mAP'] == pytest.approx(ap_of_single_match(oks, helpers.THRESHOLDS))


def test_visibility_modes_differ_only_when_occluded_landmarks_are_wrong(helpers):
    instance = skirt_instance()
    gt = np.asarray(instance['keypoints'])
    visible = np.asarray(instance['keypoints_visible'])
    occluded = visible == 1
    assert occluded.sum() == 2

    wrong_occluded = gt.copy()
    wrong_occluded[occluded] += 30.0
    results = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, wrong_occluded)])
    oks_all = hand_oks(wrong_occluded, gt, visible, area=20000.0)
    assert results['kpt_vis_mAP'] == pytest.approx(1.0, abs=1e-12)  # visible slots are exact
    assert results['kpt_mAP'] == pytest.approx(ap_of_single_match(oks_all, helpers.THRESHOLDS))
    assert results['kpt_mAP'] < results['kpt_vis_mAP']

    exact = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, gt)])
    assert exact['kpt_mAP'] == pytest.approx(1.0, abs=1e-12)
    assert exact['kpt_vis_mAP'] == pytest.approx(1.0, abs=1e-12)

    wrong_visible = gt.copy()
    wrong_visible[visible == 2] += (3.0, 4.0)
    both = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, wrong_visible)])
    assert both['kpt_vis_mAP'] == pytest.approx(
        ap_of_single_match(
            hand_oks(wrong_visible, gt, (visible == 2).astype(int), 20000.0), helpers.THRESHOLDS))
    assert both['kpt_mAP'] == pytest.approx(
        ap_of_single_match(hand_oks(wrong_visible, gt, visible, 20000.0), helpers.THRESHOLDS))


def test_fully_occluded_garment_is_ignored_in_visible_mode(helpers, tmp_path):
    """A garment with only occluded landmarks is ignored (visible mode): a detection on it counts
    neither as a hit nor as a false positive, even when it is the best-scored one."""
    normal = skirt_instance(box=(40.0, 60.0, 140.0, 260.0))
    hidden = skirt_instance(visible=(1, ) * 8, box=(200.0, 100.0, 300.0, 300.0), shift=(160, 20))
    preds = helpers.make_prediction(
        [normal['bbox'], hidden['bbox']], [0.6, 0.9], [SKIRT, SKIRT],
        [np.asarray(normal['keypoints']),
         np.asarray(hidden['keypoints'])])
    sample = helpers.make_sample(1, HEIGHT, 2 * WIDTH, preds, [normal, hidden])
    metric = DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res'))
    results = helpers.evaluate(metric, [sample])
    assert results['kpt_mAP'] == pytest.approx(1.0, abs=1e-12)
    assert results['kpt_vis_mAP'] == pytest.approx(1.0, abs=1e-12)

    # With the stock tool on the 882-number file, the 0, 0, 0 padding of the other categories'
    # slots is far from this garment (it does not touch the image origin), so the detection
    # there would be a false positive ranked first: AP 0.5 at every threshold.
    gt = build_coco_ground_truth(
        [dict(img_id=1, width=2 * WIDTH, height=HEIGHT, anns=[normal, hidden])])
    for ann in gt['annotations']:
        keypoints = ann['keypoints'].reshape(-1, 3).copy()
        keypoints[keypoints[:, 2] != 2] = 0
        ann['keypoints'], ann['num_keypoints'] = keypoints.ravel(), int((keypoints[:, 2] > 0).sum())
    stats = helpers.stock_coco_stats(gt, str(tmp_path / 'res.keypoints.json'), None, 'keypoints')
    assert stats[0] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize('best_score', [0.5, 0.51])
def test_only_the_20_best_detections_per_category_count_for_landmarks(helpers, tmp_path,
                                                                      best_score):
    """25 skirt detections; only #22 is right. Tied scores: pycocotools keeps the first 20 (stable
    order), so it is never looked at; with a higher score it comes first."""
    num = 25
    right = 22
    boxes = np.tile(np.array([[0.0, 0.0, 10.0, 10.0]]), (num, 1))
    keypoints = np.tile(skirt_keypoints(offset=(100.0, 100.0))[None], (num, 1, 1))
    boxes[right], keypoints[right] = BOX, skirt_keypoints()
    scores = np.full(num, 0.5)
    scores[right] = best_score
    sample = helpers.make_sample(1, HEIGHT, WIDTH,
                                 helpers.make_prediction(boxes, scores, [SKIRT] * num, keypoints),
                                 [skirt_instance()])
    metric = DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res'))
    results = helpers.evaluate(metric, [sample])

    rank = 1 if best_score > 0.5 else right + 1
    assert results['kpt_mAP'] == pytest.approx(1.0 if best_score > 0.5 else 0.0, abs=1e-12)
    # boxes: maxDets 100, the right box is ranked `rank`: precision 1 / rank at every recall
    assert results['bbox_mAP'] == pytest.approx(1.0 / rank)

    with open(tmp_path / 'res.keypoints.json') as file:
        written = json.load(file)
    assert len(written) == 20
    gt = build_coco_ground_truth(
        [dict(img_id=1, width=WIDTH, height=HEIGHT, anns=[skirt_instance()])])
    stats = helpers.stock_coco_stats(gt, str(tmp_path / 'res.keypoints.json'), None, 'keypoints')
    assert stats[0] == pytest.approx(results['kpt_mAP'], abs=1e-15)


def test_empty_predictions_score_zero(helpers):
    empty = helpers.make_prediction(np.zeros((0, 4)), [], [], np.zeros((0, NUM_KEYPOINTS, 2)))
    samples = [
        helpers.make_sample(1, HEIGHT, WIDTH, empty, [skirt_instance()]),
        helpers.make_sample(2, HEIGHT, WIDTH, empty, [])
    ]
    results = helpers.evaluate(DeepFashion2Metric(), samples)
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_l', 'kpt_mAP', 'kpt_mAP_50',
                'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75'):
        assert results[key] == 0.0, key


def test_no_ground_truth_gives_nan_not_a_number_that_looks_real(helpers):
    sample = one_skirt_sample(helpers, skirt_keypoints(), instances=[])
    results = helpers.evaluate(DeepFashion2Metric(), [sample])
    assert all(math.isnan(value) for value in results.values())


def test_detdatasample_through_mmengine_evaluator_equals_dict_input(helpers):
    pred = skirt_keypoints(offset=(3.0, 4.0))
    from_dicts = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, pred)])

    sample = DetDataSample(
        metainfo=dict(img_id=1, ori_shape=(HEIGHT, WIDTH), instances=[skirt_instance()]))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([BOX]),
        scores=torch.tensor([0.9]),
        labels=torch.tensor([SKIRT]),
        keypoints=torch.as_tensor(pred, dtype=torch.float32)[None],
        keypoint_scores=torch.ones(1, NUM_KEYPOINTS))
    # as the runner's val_evaluator: mmengine's Evaluator turns the DetDataSample into a dict
    evaluator = Evaluator(dict(type='mmdet.DeepFashion2Metric'))
    evaluator.process(data_samples=[sample], data_batch={})
    from_samples = {k.split('/', 1)[1]: v for k, v in evaluator.evaluate(1).items()}
    np.testing.assert_equal(from_samples, from_dicts)  # NaN == NaN here


def _json_ground_truth(tmp_path, instances) -> str:
    gt = build_coco_ground_truth([dict(img_id=1, width=WIDTH, height=HEIGHT, anns=instances)])
    for ann in gt['annotations']:
        ann['keypoints'] = ann['keypoints'].tolist()
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    return str(path)


def test_ann_file_and_instances_agree(helpers, tmp_path):
    pred = skirt_keypoints(offset=(6.0, -8.0))
    from_instances = helpers.evaluate(DeepFashion2Metric(), [one_skirt_sample(helpers, pred)])
    ann_file = _json_ground_truth(tmp_path, [skirt_instance()])
    from_file = helpers.evaluate(
        DeepFashion2Metric(ann_file=ann_file), [one_skirt_sample(helpers, pred, instances=[])])
    np.testing.assert_equal(from_file, from_instances)  # NaN == NaN here
    assert 0 < from_file['kpt_mAP'] < 1


def _bad(helpers, **changes) -> dict:
    pred = helpers.make_prediction([BOX], [0.9], [SKIRT], [skirt_keypoints()])
    for key, value in changes.items():
        pred[key] = value
    return helpers.make_sample(7, HEIGHT, WIDTH, pred, [skirt_instance()])


@pytest.mark.parametrize('field, value, message', [
    ('bboxes', torch.tensor([[40.0, float('nan'), 140.0, 260.0]]), r'image 7: .*bboxes'),
    ('scores', torch.tensor([float('inf')]), r'image 7: .*scores'),
    ('keypoints', torch.as_tensor(skirt_keypoints(), dtype=torch.float32)[None].index_fill(
        1, torch.tensor([SKIRT_START + 3]), float('nan')), r'image 7: .*keypoints'),
    ('labels', torch.tensor([13]), r'image 7: labels'),
    ('keypoints', torch.zeros(1, 25, 2), r'image 7: .*shape'),
])
def test_bad_predictions_raise_naming_the_image(helpers, field, value, message):
    with pytest.raises(ValueError, match=message):
        DeepFashion2Metric().process({}, [_bad(helpers, **{field: value})])


def test_bad_ground_truth_and_setup_raise(helpers, tmp_path):
    sample = one_skirt_sample(helpers, skirt_keypoints(), img_id=5)
    metric = DeepFashion2Metric()
    metric.process({}, [sample, sample])
    with pytest.raises(ValueError, match='more than once'):
        metric.evaluate(2)

    no_instances = one_skirt_sample(helpers, skirt_keypoints())
    del no_instances['instances']
    with pytest.raises(ValueError, match='instances'):
        DeepFashion2Metric().process({}, [no_instances])

    no_id = one_skirt_sample(helpers, skirt_keypoints())
    del no_id['img_id']
    no_id['img_path'] = 'a/skirt.jpg'
    with pytest.raises(ValueError, match=r"'a/skirt\.jpg' has no img_id"):
        DeepFashion2Metric().process({}, [no_id])

    instance = skirt_instance()
    instance['keypoints_visible'][SKIRT_START] = 3
    metric = DeepFashion2Metric()
    metric.process({}, [one_skirt_sample(helpers, skirt_keypoints(), instances=[instance])])
    with pytest.raises(ValueError, match=r'image 1: instance 0 keypoints_visible'):
        metric.evaluate(1)

    metric = DeepFashion2Metric(ann_file=_json_ground_truth(tmp_path, [skirt_instance()]))
    metric.process({}, [one_skirt_sample(helpers, skirt_keypoints(), img_id=999)])
    with pytest.raises(ValueError, match=r'not in .*gt\.json.*999'):
        metric.evaluate(1)

    categories = build_coco_ground_truth([])['categories'][:5] + [dict(id=14, name='hat')]
    bad_categories = dict(images=[], annotations=[], categories=categories)
    (tmp_path / 'bad.json').write_text(json.dumps(bad_categories))
    with pytest.raises(ValueError, match='category ids'):
        DeepFashion2Metric(ann_file=str(tmp_path / 'bad.json'))
    metric = DeepFashion2Metric(ann_file=_json_ground_truth(tmp_path, [skirt_instance()]))
    with pytest.raises(ValueError, match='keypoint_slices'):
        metric.dataset_meta = dict(classes=('a', 'b'), keypoint_slices=[[0, 2], [1, 3]],
                                   flip_indices=[0, 1, 2], sigmas=[0.1] * 3)
    with pytest.raises(ValueError, match='outfile_prefix'):
        DeepFashion2Metric(format_only=True)
    with pytest.raises(KeyError, match='metric'):
        DeepFashion2Metric(metric='segm')


def test_format_only_writes_official_files_and_returns_nothing(helpers, tmp_path):
    pred = skirt_keypoints(offset=(3.0, 4.0))
    metric = DeepFashion2Metric(format_only=True, outfile_prefix=str(tmp_path / 'sub' / 'res'))
    assert helpers.evaluate(metric, [one_skirt_sample(helpers, pred, instances=[])]) == {}
    boxes = json.loads((tmp_path / 'sub' / 'res.bbox.json').read_text())
    keypoints = json.loads((tmp_path / 'sub' / 'res.keypoints.json').read_text())
    assert boxes == [
        dict(
            image_id=1,
            category_id=SKIRT + 1,
            score=pytest.approx(0.9),
            bbox=[BOX[0], BOX[1], BOX[2] - BOX[0], BOX[3] - BOX[1]])
    ]
    assert len(keypoints) == 1 and keypoints[0]['category_id'] == SKIRT + 1
    rows = np.asarray(keypoints[0]['keypoints']).reshape(NUM_KEYPOINTS, 3)
    np.testing.assert_allclose(
        rows[SKIRT_START:SKIRT_END, :2], pred[SKIRT_START:SKIRT_END], rtol=0, atol=1e-4)
    assert (rows[SKIRT_START:SKIRT_END, 2] == 1).all()
    others = np.ones(NUM_KEYPOINTS, bool)
    others[SKIRT_START:SKIRT_END] = False
    assert (rows[others] == 0).all()
