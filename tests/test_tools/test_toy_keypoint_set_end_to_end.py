# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A landmark set other than DeepFashion2 end to end: the toy set of 3 shapes with 4 / 6 / 5
landmarks (15 slots), configs/deepmark/deepmark_toy-landmarks_example.py.

Train a few iterations (tools/train.py), test with --tta (tools/test.py), the metric with the
toy's 15 sigmas, inference drawing with the toy skeleton, ONNX export + onnxruntime."""
import importlib.util
import json
import math
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets import KeypointCocoDataset, resolve_keypoint_metainfo
from toy_keypoint_set import make_toy_keypoint_set, toy_keypoint_metainfo
from deepmark_mm.datasets.keypoint_metainfo import category_keypoint_mask, config_flip_indices
from deepmark_mm.evaluation import DeepFashion2Metric

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_toy-landmarks_example.py'
ITERS = 6
TOY = resolve_keypoint_metainfo(toy_keypoint_metainfo())
OWN = category_keypoint_mask(15, TOY['keypoint_slices'])  # (3, 15)


def run_tool(name: str, *argv: str) -> None:
    spec = importlib.util.spec_from_file_location(f'deepmark_{name}_tool',
                                                  REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with mock.patch.object(sys, 'argv', [f'{name}.py', *argv]):
        module.main()


def data_options(root: Path) -> list:
    return [f'{loader}.dataset.data_root={root}/'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The toy set (12 train / 4 val images, 64 px) and a checkpoint after a few iterations."""
    tmp = tmp_path_factory.mktemp('toy')
    make_toy_keypoint_set(str(tmp / 'data'), num_train=12, num_val=4, size=64, seed=0)
    torch.set_num_threads(1)
    run_tool('train', str(CONFIG), '--work-dir', str(tmp / 'train'), '--cfg-options',
             f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
             f'default_hooks.checkpoint.interval={ITERS}', *data_options(tmp / 'data'))
    return tmp, tmp / 'train' / f'iter_{ITERS}.pth'


def test_config_landmark_meta_is_the_toy_set_and_feeds_the_head():
    cfg = Config.fromfile(str(CONFIG))
    meta = resolve_keypoint_metainfo(cfg.keypoint_meta)
    for key in ('classes', 'keypoint_slices', 'skeletons'):
        assert meta[key] == TOY[key]
    np.testing.assert_array_equal(meta['flip_indices'], TOY['flip_indices'])
    np.testing.assert_array_equal(meta['sigmas'], TOY['sigmas'])
    flip = meta['flip_indices']
    np.testing.assert_array_equal(flip[flip], np.arange(15))  # flip twice = identity
    assert (cfg.model.bbox_head.num_classes, cfg.model.bbox_head.num_keypoints) == (3, 15)
    # the flip pairs are written once, in the dataset metainfo: --tta reads them from there
    assert 'tta_model' not in cfg and 'flip_indices' not in cfg.model.bbox_head
    assert all('flip_indices' not in step for step in cfg.train_pipeline + cfg.test_pipeline)
    assert config_flip_indices(cfg) == TOY['flip_indices'].tolist()


def test_dataset_reads_the_toy_set_with_its_metainfo(trained):
    tmp, _ = trained
    dataset = KeypointCocoDataset(
        ann_file=str(tmp / 'data' / 'train' / 'toy_train.json'),
        data_prefix=dict(img=str(tmp / 'data' / 'train' / 'image') + '/'),
        metainfo=toy_keypoint_metainfo(), pipeline=[])
    assert len(dataset) == 12 and dataset.metainfo['classes'] == TOY['classes']
    instances = [i for index in range(len(dataset)) for i in dataset[index]['instances']]
    assert {i['bbox_label'] for i in instances} == {0, 1, 2}
    for instance in instances:
        own = OWN[instance['bbox_label']]
        assert instance['keypoints'].shape == (15, 2)
        assert (instance['keypoints_visible'][own] == 2).all()
        assert (instance['keypoints_visible'][~own] == 0).all()
        assert (instance['keypoints'][~own] == 0).all()
        x1, y1, x2, y2 = instance['bbox']  # the shape's vertices span its box
        assert instance['keypoints'][own, 0].min() == x1 and instance['keypoints'][own, 1].max() \
            == y2 - 1


def test_checkpoint_keeps_the_toy_metainfo_and_a_15_slot_head(trained):
    _, checkpoint = trained
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert tuple(state['meta']['dataset_meta']['classes']) == TOY['classes']
    weights = state['state_dict']
    assert weights['bbox_head.heatmap_head.0.2.weight'].shape[0] == 3  # classes
    assert weights['bbox_head.kpt_heatmap_head.0.2.weight'].shape[0] == 15  # landmark slots
    assert weights['bbox_head.kpt_reg_head.0.2.weight'].shape[0] == 30  # (x, y) per slot


def test_tools_test_with_tta_gives_finite_toy_metrics(trained):
    tmp, checkpoint = trained
    work_dir = tmp / 'test'
    run_tool('test', str(CONFIG), str(checkpoint), '--tta', '--work-dir', str(work_dir),
             '--cfg-options', *data_options(tmp / 'data'))
    metrics = json.loads(next(work_dir.glob('*/*.json')).read_text())
    for key in ('bbox_mAP', 'bbox_mAP_50', 'kpt_mAP', 'kpt_mAP_50', 'kpt_vis_mAP'):
        value = metrics[f'deepfashion2/{key}']
        assert math.isfinite(value) and 0 <= value <= 1, (key, value)
    dumped = Config.fromfile(str(work_dir / CONFIG.name))
    assert dumped.model.type == 'DeepMarkTTAModel'
    assert dumped.model.flip_indices == TOY['flip_indices'].tolist()


def test_metric_scores_toy_ground_truth_as_predictions_one(trained):
    """The toy's classes, slices and 15 sigmas come from dataset_meta: perfect predictions give
    mAP 1, and a landmark moved by its sigma's scale lowers only the landmark mAP."""
    tmp, _ = trained
    dataset = KeypointCocoDataset(
        ann_file=str(tmp / 'data' / 'validation' / 'toy_validation.json'),
        data_prefix=dict(img=str(tmp / 'data' / 'validation' / 'image') + '/'),
        metainfo=toy_keypoint_metainfo(), pipeline=[], test_mode=True)

    def evaluate(shift: float) -> dict:
        metric = DeepFashion2Metric()
        metric.dataset_meta = dataset.metainfo
        for index in range(len(dataset)):
            info = dataset[index]
            instances = info['instances']
            keypoints = np.stack([i['keypoints'] for i in instances]) + shift
            metric.process({}, [dict(
                img_id=info['img_id'], ori_shape=(info['height'], info['width']),
                instances=instances,
                pred_instances=dict(
                    bboxes=np.array([i['bbox'] for i in instances], np.float32),
                    scores=np.ones(len(instances), np.float32),
                    labels=np.array([i['bbox_label'] for i in instances]),
                    keypoints=keypoints))])
        return metric.evaluate(len(dataset))

    perfect = evaluate(0.0)
    assert perfect['deepfashion2/bbox_mAP'] == pytest.approx(1.0)
    assert perfect['deepfashion2/kpt_mAP'] == pytest.approx(1.0)
    moved = evaluate(4.0)
    assert moved['deepfashion2/bbox_mAP'] == pytest.approx(1.0)
    assert moved['deepfashion2/kpt_mAP'] < 0.9


def test_inferencer_predicts_15_slots_and_draws_the_toy_skeleton(trained):
    from deepmark_mm.apis import DeepMarkInferencer
    tmp, checkpoint = trained
    image = str(tmp / 'data' / 'validation' / 'image' / '000001.png')
    inferencer = DeepMarkInferencer(str(CONFIG), weights=str(checkpoint), device='cpu',
                                    show_progress=False)
    assert inferencer.model.dataset_meta['classes'] == TOY['classes']
    prediction = inferencer(image, return_vis=True)['predictions'][0]
    labels = prediction['label_ids']
    assert prediction['keypoints'].shape == (len(labels), 15, 2)
    assert (prediction['keypoints'][~OWN[labels]] == 0).all()
    assert set(prediction['labels']) <= set(TOY['classes'])
    # one hexagon, drawn with and without the skeleton: the links' pixels differ
    hexagon = dict(prediction, bboxes=np.array([[10., 10., 50., 50.]], np.float32),
                   scores=np.ones(1, np.float32), label_ids=np.array([1]), labels=['hexagon'],
                   keypoints=np.zeros((1, 15, 2), np.float32),
                   keypoint_scores=np.zeros((1, 15), np.float32))
    hexagon['keypoints'][0, 4:10] = [[20, 12], [40, 12], [48, 30], [40, 48], [20, 48], [12, 30]]
    hexagon['keypoint_scores'][0, 4:10] = 1.0
    with_links = inferencer.draw(image, hexagon)
    inferencer.visualizer.dataset_meta = dict(inferencer.visualizer.dataset_meta,
                                              skeletons=[[], [], []])
    without = inferencer.draw(image, hexagon)
    changed = np.abs(with_links.astype(int) - without.astype(int)).sum(-1) > 0
    # (row, column) midpoints of links (5, 6) and (6, 7), then the shape's centre
    assert changed[20:23, 43:46].any() and changed[38:41, 43:46].any()
    assert not changed[25:36, 25:36].any()


def test_inferencer_without_checkpoint_takes_the_config_metainfo():
    from deepmark_mm.apis import DeepMarkInferencer
    with pytest.warns(UserWarning, match='weights=None'):
        inferencer = DeepMarkInferencer(str(CONFIG), device='cpu', show_progress=False)
    assert inferencer.model.dataset_meta['classes'] == TOY['classes']
    assert inferencer.visualizer.dataset_meta['skeletons'] == TOY['skeletons']


def test_onnx_export_stores_the_toy_metadata_and_runs_15_slots(trained):
    import onnxruntime
    from deepmark_mm.deployment import OnnxDeepMark, export_onnx
    tmp, checkpoint = trained
    onnx_file = str(tmp / 'toy.onnx')
    info = export_onnx(str(CONFIG), str(checkpoint), onnx_file, verify=True)
    assert max(info['max_abs_diff'].values()) < 1e-3
    session = onnxruntime.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    stored = session.get_modelmeta().custom_metadata_map
    assert json.loads(stored['classes']) == list(TOY['classes'])
    assert json.loads(stored['keypoint_slices']) == [[0, 4], [4, 10], [10, 15]]
    assert json.loads(stored['flip_indices']) == TOY['flip_indices'].tolist()
    outputs = dict(zip([o.name for o in session.get_outputs()],
                       session.run(None, {'input': np.zeros((2, 3, 64, 64), np.float32)})))
    assert outputs['center_heatmap'].shape == (2, 3, 16, 16)
    assert outputs['kpt_heatmap'].shape == (2, 15, 16, 16)
    deployed = OnnxDeepMark(onnx_file, str(CONFIG), show_progress=False)
    assert deployed.model.dataset_meta['classes'] == TOY['classes']
    np.testing.assert_array_equal(deployed.model.dataset_meta['flip_indices'],
                                  TOY['flip_indices'])
    prediction = deployed(str(tmp / 'data' / 'validation' / 'image' / '000002.png'))[
        'predictions'][0]
    labels = prediction['label_ids']
    assert prediction['keypoints'].shape == (len(labels), 15, 2)
    assert (prediction['keypoints'][~OWN[labels]] == 0).all()
