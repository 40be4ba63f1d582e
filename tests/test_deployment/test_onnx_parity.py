# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Deployed (onnxruntime + the head's decoding) == PyTorch, on decoded garments and landmarks."""
import glob
import json
import os.path as osp
import sys
from pathlib import Path

import numpy as np
import pytest

from deepmark_mm.apis import DeepMarkInferencer, load_deepmark_config
from deepmark_mm.deployment import OnnxDeepMark, export_onnx

#: Same model as the ``exported`` fixture (tests/test_deployment/conftest.py).
SYNTHETIC_CONFIG = 'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}
REPO = Path(__file__).resolve().parents[2]


def assert_same_predictions(deployed, reference):
    assert len(deployed) == len(reference)
    for ours, theirs in zip(deployed, reference):
        assert ours['labels'] == theirs['labels'] and len(ours['labels']) > 0
        assert (ours['img_id'], ours['img_path'], ours['ori_shape']) == \
            (theirs['img_id'], theirs['img_path'], theirs['ori_shape'])
        np.testing.assert_allclose(ours['bboxes'], theirs['bboxes'], atol=1e-3, rtol=0)
        np.testing.assert_allclose(ours['scores'], theirs['scores'], atol=1e-5, rtol=0)
        np.testing.assert_allclose(ours['keypoints'], theirs['keypoints'], atol=1e-3, rtol=0)
        np.testing.assert_allclose(
            ours['keypoint_scores'], theirs['keypoint_scores'], atol=1e-5, rtol=0)


@pytest.fixture(scope='module')
def reference(exported, deploy_images):
    """PyTorch predictions of the exported model's checkpoint."""
    inferencer = DeepMarkInferencer(
        SYNTHETIC_CONFIG,
        weights=exported['checkpoint'],
        device='cpu',
        show_progress=False,
        cfg_options=SMALL_DECODE)
    inputs = deploy_images['files'] + [deploy_images['array']]
    return inferencer(inputs, score_thr=0.0)['predictions']


def test_onnxruntime_gives_the_pytorch_garments_and_landmarks(exported, deploy_images, reference,
                                                              tmp_path):
    deployed = OnnxDeepMark(
        exported['onnx_file'],
        SYNTHETIC_CONFIG,
        num_threads=1,
        show_progress=False,
        cfg_options=SMALL_DECODE)
    inputs = deploy_images['files'] + [deploy_images['array']]
    result = deployed(inputs, score_thr=0.0, out_dir=str(tmp_path), batch_size=2)
    assert_same_predictions(result['predictions'], reference)
    assert result['predictions'][2]['ori_shape'] == (72, 150)  # back in original pixels
    # the same files as the PyTorch inferencer writes
    assert len(json.load(open(result['files']['keypoints']))) == 3 * 8
    assert [osp.basename(f) for f in result['files']['vis']] == \
        ['000001.jpg', '000002.jpg', '00000003.jpg']  # files keep their names, arrays get ids
    with pytest.raises(NotImplementedError, match='test-time augmentation'):
        deployed(inputs[:1], tta=True)


def test_graph_of_another_size_is_fed_at_its_size(exported, deploy_images, tmp_path):
    onnx_file = str(tmp_path / 'random_64.onnx')
    export_onnx(
        SYNTHETIC_CONFIG, None, onnx_file, input_shape=64, model=exported['model'], verify=False)
    deployed = OnnxDeepMark(
        onnx_file, SYNTHETIC_CONFIG, num_threads=1, show_progress=False, cfg_options=SMALL_DECODE)
    prediction = deployed(deploy_images['files'][0], score_thr=0.0)['predictions'][0]
    assert len(prediction['labels']) == 8 and prediction['ori_shape'] == (128, 128)


def test_image_demo_runs_the_onnx_file_on_a_folder(exported, deploy_images, tmp_path, monkeypatch,
                                                   capsys):
    sys.path.insert(0, str(REPO / 'tools' / 'demo'))
    try:
        import image_demo
    finally:
        sys.path.pop(0)
    out_dir = tmp_path / 'demo'
    monkeypatch.setattr(sys, 'argv', [
        'image_demo.py',
        str(deploy_images['folder']), SYNTHETIC_CONFIG, exported['onnx_file'], '--score-thr', '0',
        '--out-dir',
        str(out_dir)
    ])
    image_demo.main()
    per_image = load_deepmark_config(SYNTHETIC_CONFIG).model.test_cfg.max_per_img
    assert f'2 image(s), {2 * per_image} garment(s)' in capsys.readouterr().out
    assert sorted(osp.basename(p) for p in glob.glob(str(out_dir / 'vis' / '*'))) == \
        ['000001.jpg', '000002.jpg']
    assert (out_dir / 'preds' / '000002.json').is_file()
    assert (out_dir / 'results.bbox.json').is_file()


def test_synthetic_checkpoint_parity(tmp_path, deploy_images, demo_checkpoint):
    found = demo_checkpoint
    if found is None:
        pytest.skip('no synthetic-trained checkpoint (work_dirs/demo/*.pth or '
                    'DEEPMARK_DEMO_CHECKPOINT)')
    from deepmark_mm.deployment import build_detector
    model = build_detector(found['config'], found['checkpoint'])
    onnx_file = str(tmp_path / 'demo.onnx')
    info = export_onnx(found['config'], found['checkpoint'], onnx_file, model=model)
    assert max(info['max_abs_diff'].values()) < 1e-3
    images = sorted(
        glob.glob(str(REPO / 'data' / 'synthetic_deepfashion2' / 'validation' / 'image' /
                      '*.jpg')))[:4] or deploy_images['files']
    reference = DeepMarkInferencer(
        found['config'], weights=found['checkpoint'], device='cpu', show_progress=False)(
            images, score_thr=0.1)['predictions']
    deployed = OnnxDeepMark(
        onnx_file, found['config'], num_threads=1, show_progress=False)(
            images, score_thr=0.1)['predictions']
    assert sum(len(p['labels']) for p in reference) > 0
    assert_same_predictions(deployed, reference)
