# Copyright (c) deepmark_mm contributors. All rights reserved.
import json

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from deepmark_mm.apis import PREDICTION_KEYS, prediction_to_readable, select_detections
from deepmark_mm.apis.prediction_format import prediction_to_instances, sample_to_prediction
from deepmark_mm.datasets.deepfashion2_metainfo import (CLASSES, KEYPOINT_SLICES, NUM_KEYPOINTS,
                                                        keypoint_names)
from deepmark_mm.datasets.keypoint_metainfo import resolve_keypoint_metainfo

META = resolve_keypoint_metainfo(None)


def _instances(labels, scores, seed=0) -> InstanceData:
    """Head-like predictions with every slot filled (the format must clear other categories')."""
    rng = np.random.default_rng(seed)
    num = len(labels)
    xy = rng.uniform(0, 100, (num, 2))
    return InstanceData(
        bboxes=torch.tensor(
            np.concatenate([xy, xy + rng.uniform(5, 50, (num, 2))], 1), dtype=torch.float32),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels),
        keypoints=torch.tensor(rng.uniform(0, 100, (num, NUM_KEYPOINTS, 2)), dtype=torch.float32),
        keypoint_scores=torch.tensor(
            rng.uniform(0.01, 1, (num, NUM_KEYPOINTS)), dtype=torch.float32))


def _prediction(instances, img_id, img_path, ori_shape, score_thr=0.0):
    sample = DetDataSample(metainfo=dict(img_id=img_id, img_path=img_path, ori_shape=ori_shape))
    sample.pred_instances = select_detections(instances, score_thr, META, img_path or 'array')
    return sample_to_prediction(sample, CLASSES)


def test_prediction_keeps_sorted_detections_above_threshold_on_own_slots():
    instances = _instances(labels=[7, 0, 12, 4], scores=[0.2, 0.9, 0.5, 0.5])
    prediction = _prediction(instances, 5, 'x/000005.jpg', (120, 90), score_thr=0.5)
    assert tuple(prediction) == PREDICTION_KEYS
    # 0.2 dropped; equal scores keep their order (stable)
    np.testing.assert_array_equal(prediction['label_ids'], [0, 12, 4])
    assert prediction['labels'] == ['short_sleeved_shirt', 'sling_dress', 'vest']
    np.testing.assert_allclose(prediction['scores'], [0.9, 0.5, 0.5])
    np.testing.assert_allclose(prediction['bboxes'], instances.bboxes.numpy()[[1, 2, 3]])
    assert prediction['ori_shape'] == (120, 90) and prediction['img_id'] == 5
    for row, source in enumerate([1, 2, 3]):
        start, end = KEYPOINT_SLICES[prediction['label_ids'][row]]
        own = np.zeros(NUM_KEYPOINTS, dtype=bool)
        own[start:end] = True
        np.testing.assert_allclose(prediction['keypoints'][row][own],
                                   instances.keypoints.numpy()[source][own])
        np.testing.assert_allclose(prediction['keypoint_scores'][row][own],
                                   instances.keypoint_scores.numpy()[source][own])
        assert not prediction['keypoints'][row][~own].any()
        assert not prediction['keypoint_scores'][row][~own].any()
    back = prediction_to_instances(prediction)
    np.testing.assert_array_equal(back.labels.numpy(), [0, 12, 4])
    np.testing.assert_allclose(back.keypoints.numpy(), prediction['keypoints'])


def test_bad_predictions_are_named():
    instances = _instances([3], [0.5])
    del instances.keypoint_scores
    with pytest.raises(ValueError, match=r"x/1.jpg: pred_instances lacks \['keypoint_scores'\]"):
        select_detections(instances, 0.0, META, 'x/1.jpg')
    wrong = _instances([13], [0.5])
    with pytest.raises(ValueError, match=r'image 2: labels \[13\] outside 0..12'):
        select_detections(wrong, 0.0, META, 'image 2')


def test_readable_format_lists_the_category_landmarks_with_names():
    prediction = _prediction(_instances([8, 3], [0.8, 0.7]), 9, None, (50, 60))
    readable = prediction_to_readable(prediction, META)
    assert (readable['img_id'], readable['height'], readable['width']) == (9, 50, 60)
    names = keypoint_names()
    for row, item in enumerate(readable['items']):
        label = int(prediction['label_ids'][row])
        start, end = KEYPOINT_SLICES[label]
        assert item['category'] == CLASSES[label] and item['category_id'] == label + 1
        assert len(item['landmarks']) == end - start  # skirt 8, long sleeve outwear 39
        assert [lm['slot'] for lm in item['landmarks']] == list(range(start, end))
        assert [lm['name'] for lm in item['landmarks']] == names[start:end]
        np.testing.assert_allclose([[lm['x'], lm['y']] for lm in item['landmarks']],
                                   prediction['keypoints'][row][start:end],
                                   rtol=1e-6)
        np.testing.assert_allclose([lm['score'] for lm in item['landmarks']],
                                   prediction['keypoint_scores'][row][start:end],
                                   rtol=1e-6)
        np.testing.assert_allclose(item['bbox'], prediction['bboxes'][row], rtol=1e-6)
    assert names[182] == 'skirt_kpt1' and readable['items'][0]['landmarks'][0]['name'] == names[182]
    json.dumps(readable)  # plain JSON types only


def test_inferencer_writes_official_result_files(inferencer, synthetic_image_dir, tmp_path,
                                                 samples_dir):
    result = inferencer(synthetic_image_dir['files'], out_dir=str(tmp_path), score_thr=0.0)
    predictions, files = result['predictions'], result['files']
    boxes = json.load(open(files['bbox']))
    keypoints = json.load(open(files['keypoints']))
    rows = [(pred, row) for pred in predictions for row in range(len(pred['labels']))]
    assert len(boxes) == len(keypoints) == len(rows) == 16
    for box, entry, (pred, row) in zip(boxes, keypoints, rows):
        assert box['image_id'] == entry['image_id'] == pred['img_id']
        assert box['category_id'] == entry['category_id'] == pred['label_ids'][row] + 1
        x1, y1, x2, y2 = pred['bboxes'][row]
        np.testing.assert_allclose(box['bbox'], [x1, y1, x2 - x1, y2 - y1], rtol=1e-5)
        values = np.asarray(entry['keypoints']).reshape(NUM_KEYPOINTS, 3)
        start, end = KEYPOINT_SLICES[entry['category_id'] - 1]
        assert (values[start:end, 2] == 1).all() and not values[:start].any() \
            and not values[end:].any()
        np.testing.assert_allclose(
            values[start:end, :2], pred['keypoints'][row][start:end], rtol=1e-5)
        assert entry['score'] == pytest.approx(float(pred['scores'][row]))
    if samples_dir is None:
        return  # ../shared/deepfashion2-samples is not available: no official examples
    examples = samples_dir / 'official_examples'
    assert set(json.load(open(examples / 'example_bbox_results.json'))[0]) == set(boxes[0])
    official = json.load(open(examples / 'example_keys_results.json'))[0]
    assert set(official) == set(keypoints[0])
    assert len(official['keypoints']) == len(keypoints[0]['keypoints']) == 882
    assert set(official['keypoints'][2::3]) <= {0, 1} and set(keypoints[0]['keypoints'][2::3]) \
        == {0, 1}
