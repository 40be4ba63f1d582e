# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Ground-truth substitution: decoding all-ground-truth maps returns the annotations, and the
oracle analysis tool reports box mAP 1.0 for them on a synthetic set."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES
from deepmark_mm.models.utils import BRANCHES, substitute_ground_truth

REPO = Path(__file__).resolve().parents[3]


def _head_and_ground_truth():
    head = MODELS.build(dict(type='DeepMarkHead', in_channels=4, feat_channels=4))
    boxes = torch.tensor([[8., 12., 41., 57.], [50., 6., 90., 70.]])
    gt = InstanceData(bboxes=HorizontalBoxes(boxes), labels=torch.tensor([1, 9]))
    gt.keypoints = torch.zeros(2, 294, 2)
    gt.keypoints_visible = torch.zeros(2, 294)
    # four labelled landmarks per garment, each in its own feature cell (the landmark offset
    # map holds one value per cell); the other slots are unlabelled
    corners = torch.tensor([[0.1, 0.1], [0.9, 0.15], [0.2, 0.85], [0.75, 0.7]])
    for row, label in enumerate((1, 9)):
        start = KEYPOINT_SLICES[label][0]
        x1, y1, x2, y2 = gt.bboxes.tensor[row].tolist()
        gt.keypoints[row, start:start + 4] = corners * torch.tensor([x2 - x1, y2 - y1]) + \
            torch.tensor([x1, y1])
        gt.keypoints_visible[row, start:start + 4] = torch.tensor([2., 1., 2., 2.])
    return head, gt


def _random_prob_maps(num_keypoints: int = 294, size: int = 24):
    gen = torch.Generator().manual_seed(0)
    shapes = dict(center_heatmap=13, wh=2, offset=2, kpt_reg=2 * num_keypoints,
                  kpt_heatmap=num_keypoints, kpt_offset=2)
    maps = {name: torch.rand(1, channels, size, size, generator=gen) * 0.05
            for name, channels in shapes.items()}
    return maps


def test_all_ground_truth_maps_decode_to_the_annotations():
    head, gt = _head_and_ground_truth()
    meta = dict(batch_input_shape=(96, 96), img_shape=(96, 96))
    maps = _random_prob_maps()
    targets = head.get_targets([gt], [meta], maps['center_heatmap'].shape)
    oracle = substitute_ground_truth(maps, targets, BRANCHES)
    result = head.codec.decode([oracle[name] for name in BRANCHES], [meta])[0]
    top = result.scores.argsort(descending=True)[:2]
    order = result.labels[top].argsort()
    assert result.labels[top][order].tolist() == [1, 9]
    assert result.scores[top].tolist() == [1.0, 1.0]
    torch.testing.assert_close(result.bboxes[top][order], gt.bboxes.tensor, atol=1e-4, rtol=0)
    for row, label in enumerate((1, 9)):
        start = KEYPOINT_SLICES[label][0]
        torch.testing.assert_close(result.keypoints[top][order][row, start:start + 4],
                                   gt.keypoints[row, start:start + 4], atol=1e-4, rtol=0)


def test_substitution_only_touches_the_named_branches():
    head, gt = _head_and_ground_truth()
    maps = _random_prob_maps()
    targets = head.get_targets([gt], [dict(batch_input_shape=(96, 96))],
                               maps['center_heatmap'].shape)
    out = substitute_ground_truth(maps, targets, ['wh', 'kpt_heatmap'])
    for name in ('center_heatmap', 'offset', 'kpt_reg', 'kpt_offset'):
        assert out[name] is maps[name]
    assert out['kpt_heatmap'] is targets.kpt_heatmap
    changed = (out['wh'] != maps['wh']).any(dim=1).flatten()
    assert sorted(changed.nonzero().flatten().tolist()) == \
        sorted(targets.center_pixel_index.tolist())
    assert maps['wh'].max() <= 0.05  # inputs are not modified in place
    with pytest.raises(KeyError, match=r"unknown branches \['heatmap'\]"):
        substitute_ground_truth(maps, targets, ['heatmap'])


def test_oracle_analysis_tool_on_a_synthetic_set(tmp_path):
    from mmengine.runner import save_checkpoint

    from make_synthetic_deepfashion2 import coco_file_name, make_synthetic_deepfashion2
    make_synthetic_deepfashion2(str(tmp_path), num_train=0, num_val=3, size=64, seed=2)
    spec = importlib.util.spec_from_file_location(
        'oracle_analysis', REPO / 'tools' / 'analysis_tools' / 'oracle_analysis.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    config = REPO / 'configs' / 'deepmark' / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'
    head_only = tmp_path / 'random.pth'
    args = tool.parse_args([
        str(config), str(head_only), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.data_root={tmp_path}/', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', 'input_size=64',
        f'test_evaluator.ann_file={tmp_path / coco_file_name("validation")}'
    ])
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    save_checkpoint(MODELS.build(Config.fromfile(str(config)).model).state_dict(), str(head_only))
    report = tool.oracle_analysis(tool.build_runner(args),
                                  dict(predicted=(), all=tuple(BRANCHES)))
    assert report['all']['bbox_mAP'] == pytest.approx(1.0)
    assert report['all']['kpt_mAP'] > 0.95
    assert report['predicted']['bbox_mAP'] < 0.1  # an untrained model
    table = tool.format_report(report)
    assert 'all' in table and '(+' in table
