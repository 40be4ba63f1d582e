# Copyright (c) deepmark_mm contributors. All rights reserved.
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample

from deepmark_mm.apis import PREDICTION_KEYS, DeepMarkInferencer
from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.datasets.keypoint_metainfo import category_keypoint_mask
from deepmark_mm.visualization import DeepMarkVisualizer

OWN_SLOTS = category_keypoint_mask(NUM_KEYPOINTS, KEYPOINT_SLICES)  # (13, 294)

#: The decoding size of conftest's ``inferencer`` fixture.
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}


def _check_prediction(prediction, image_shape):
    assert tuple(prediction) == PREDICTION_KEYS
    num = len(prediction['labels'])
    assert prediction['bboxes'].shape == (num, 4) and prediction['scores'].shape == (num, )
    assert prediction['keypoints'].shape == (num, NUM_KEYPOINTS, 2)
    assert prediction['keypoint_scores'].shape == (num, NUM_KEYPOINTS)
    assert prediction['labels'] == [CLASSES[i] for i in prediction['label_ids']]
    assert (np.diff(prediction['scores']) <= 0).all()
    own = OWN_SLOTS[prediction['label_ids']]
    assert not prediction['keypoints'][~own].any() and not prediction['keypoint_scores'][~own].any()
    assert (prediction['keypoint_scores'][own] > 0).all()
    assert prediction['ori_shape'] == image_shape


def test_folder_gives_documented_predictions_images_and_json(inferencer, synthetic_image_dir,
                                                             tmp_path):
    assert isinstance(inferencer.visualizer, DeepMarkVisualizer)
    assert inferencer.model.dataset_meta['classes'] == CLASSES
    result = inferencer(str(synthetic_image_dir['folder']), out_dir=str(tmp_path), score_thr=0.0)
    predictions = result['predictions']
    assert [p['img_path'] for p in predictions] == synthetic_image_dir['files']
    assert [p['img_id'] for p in predictions] == [1, 2]
    for prediction in predictions:
        _check_prediction(prediction, (128, 128))
        assert len(prediction['labels']) == 8  # test_cfg.max_per_img, every score >= 0
    files = result['files']
    assert [osp.basename(f) for f in files['vis']] == ['000001.jpg', '000002.jpg']
    drawing = cv2.imread(files['vis'][0])
    assert drawing.shape == (128, 128, 3)
    assert not np.array_equal(drawing, cv2.imread(synthetic_image_dir['files'][0]))
    readable = json.load(open(files['preds'][1]))
    assert readable['img_path'] == synthetic_image_dir['files'][1]
    np.testing.assert_allclose([item['score'] for item in readable['items']],
                               predictions[1]['scores'],
                               rtol=1e-6)
    assert [item['category'] for item in readable['items']] == predictions[1]['labels']
    boxes = json.load(open(files['bbox']))
    keypoints = json.load(open(files['keypoints']))
    assert len(boxes) == len(keypoints) == 16
    assert [b['image_id'] for b in boxes] == [1] * 8 + [2] * 8
    assert [k['category_id'] for k in keypoints[:8]] == list(predictions[0]['label_ids'] + 1)


def test_array_input_and_score_threshold(inferencer, synthetic_image_dir, tmp_path):
    path = synthetic_image_dir['files'][0]
    from_path = inferencer(path, score_thr=0.0)['predictions'][0]
    from_array = inferencer(cv2.imread(path), score_thr=0.0)['predictions'][0]
    assert from_array['img_path'] is None and from_array['img_id'] == 1
    np.testing.assert_array_equal(from_array['bboxes'], from_path['bboxes'])
    np.testing.assert_array_equal(from_array['keypoints'], from_path['keypoints'])
    threshold = float(from_path['scores'][2])
    kept = inferencer(path, score_thr=threshold)['predictions'][0]
    num = int((from_path['scores'] >= threshold).sum())
    assert len(kept['labels']) == num >= 3
    np.testing.assert_array_equal(kept['bboxes'], from_path['bboxes'][:num])
    # nothing above the threshold: empty arrays of the documented shapes, empty result files
    result = inferencer(path, score_thr=1.01, out_dir=str(tmp_path))
    empty = result['predictions'][0]
    assert empty['labels'] == [] and empty['keypoints'].shape == (0, NUM_KEYPOINTS, 2)
    assert json.load(open(result['files']['keypoints'])) == []
    assert json.load(open(result['files']['preds'][0]))['items'] == []
    assert cv2.imread(result['files']['vis'][0]).shape == (128, 128, 3)


def test_predictions_are_in_original_pixels(inferencer):
    """A wide image: results equal the network-input predictions mapped back through the inverse
    centre warp."""
    image = np.random.default_rng(1).integers(0, 255, (64, 192, 3)).astype(np.uint8)
    sample = inferencer(image, score_thr=0.0, return_datasamples=True)['predictions'][0]
    assert isinstance(sample, DetDataSample) and sample.img_id == 1
    data = inferencer.model.data_preprocessor(
        inferencer.collate_fn([inferencer.pipeline(image)]), False)
    with torch.no_grad():
        network = inferencer.model.predict(
            data['inputs'], data['data_samples'], rescale=False)[0].pred_instances
    homography = np.asarray(sample.homography_matrix, np.float64)
    assert homography[0, 0] == pytest.approx(128 / 192, rel=1e-5)  # 192 px wide -> 128 input

    def to_network(points):
        return points @ homography[:2, :2].T + homography[:2, 2]

    boxes = sample.pred_instances.bboxes.numpy().astype(np.float64)
    np.testing.assert_allclose(
        to_network(boxes.reshape(-1, 2)).reshape(-1, 4), network.bboxes.numpy(), atol=1e-3)
    own = OWN_SLOTS[sample.pred_instances.labels.numpy()]
    np.testing.assert_allclose(
        to_network(sample.pred_instances.keypoints.numpy()[own]),
        network.keypoints.numpy()[own],
        atol=1e-3)


def test_test_time_augmentation_flip_fuses(inferencer, synthetic_image_dir):
    path = synthetic_image_dir['files'][1]
    plain = inferencer(path, score_thr=0.0)['predictions'][0]
    fused = inferencer(path, score_thr=0.0, tta=True)['predictions'][0]
    _check_prediction(fused, (128, 128))
    assert len(fused['labels']) == 8
    # flip fusion averages the centre heatmap with its mirror: the scores change
    assert not np.allclose(np.sort(fused['scores']), np.sort(plain['scores']))


def test_bad_weights_are_refused_with_the_file_name(tmp_path, inferencer):
    state = {k: v for k, v in inferencer.model.state_dict().items() if 'kpt_offset' not in k}
    path = tmp_path / 'incomplete.pth'
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=CLASSES))), path)
    with pytest.raises(RuntimeError, match=r'(?s)incomplete\.pth does not fit.*kpt_offset'):
        DeepMarkInferencer(
            'deepmark_dla34_1xb8-12e_synthetic-128',
            weights=str(path),
            device='cpu',
            show_progress=False)


def test_checkpoint_of_other_classes_is_refused(tmp_path, inferencer):
    path = tmp_path / 'coco.pth'
    torch.save(
        dict(
            state_dict=inferencer.model.state_dict(),
            meta=dict(dataset_meta=dict(classes=('person', 'car')))), path)
    with pytest.raises(ValueError, match=r"coco\.pth has classes \('person', 'car'\)"):
        DeepMarkInferencer(
            'deepmark_dla34_1xb8-12e_synthetic-128',
            weights=str(path),
            device='cpu',
            show_progress=False)


def test_tta_column_config_drives_tta_call(tmp_path, inferencer, synthetic_image_dir):
    """A *_flip-ms.py column config (tta_model + tta_scales) is the plain detector until called
    with tta=True, which runs its views; the plain config's tta=True with the same scales as a
    cfg-option gives the same predictions (one TTA mechanism)."""
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=inferencer.model.state_dict()), path)
    column = DeepMarkInferencer(
        'deepmark_dla34_1xb8-12e_synthetic-128_flip-ms',
        weights=str(path),
        device='cpu',
        show_progress=False,
        cfg_options=SMALL_DECODE)
    option = DeepMarkInferencer(
        'deepmark_dla34_1xb8-12e_synthetic-128',
        weights=str(path),
        device='cpu',
        show_progress=False,
        cfg_options=dict(SMALL_DECODE, tta_scales=[1.0, 0.75]))
    image = synthetic_image_dir['files'][0]
    plain = column(image, score_thr=0.0)['predictions'][0]
    reference = inferencer(image, score_thr=0.0)['predictions'][0]
    assert plain['labels'] == reference['labels']
    np.testing.assert_array_equal(plain['bboxes'], reference['bboxes'])
    ours = column(image, score_thr=0.0, tta=True)['predictions'][0]
    theirs = option(image, score_thr=0.0, tta=True)['predictions'][0]
    assert ours['labels'] == theirs['labels'] and len(ours['labels']) > 0
    np.testing.assert_allclose(ours['bboxes'], theirs['bboxes'], atol=1e-4)
    np.testing.assert_allclose(ours['keypoints'], theirs['keypoints'], atol=1e-4)
    views = column._tta_components()[1]
    assert len(views(np.zeros((40, 60, 3), dtype=np.uint8))['inputs']) == 2


def test_large_image_is_drawn_at_the_cap_with_scaled_boxes(inferencer, tmp_path, monkeypatch):
    """``max_draw_size``: a 4000x3000 photo is drawn 512x384, its boxes and landmarks scaled."""
    drawn = []
    add = inferencer.visualizer.add_datasample
    monkeypatch.setattr(inferencer.visualizer, 'add_datasample',
                        lambda name, image, sample, **kw: drawn.append(sample.pred_instances) or
                        add(name, image, sample, **kw))
    result = inferencer(np.zeros((3000, 4000, 3), np.uint8), out_dir=str(tmp_path), score_thr=0,
                        max_draw_size=512)
    assert cv2.imread(result['files']['vis'][0]).shape == (384, 512, 3)
    prediction = result['predictions'][0]
    assert len(prediction['bboxes']) > 0
    np.testing.assert_allclose(drawn[0].bboxes.numpy(), prediction['bboxes'] * 0.128, rtol=1e-5)
    np.testing.assert_allclose(drawn[0].keypoints.numpy(), prediction['keypoints'] * 0.128,
                               rtol=1e-5, atol=1e-4)
