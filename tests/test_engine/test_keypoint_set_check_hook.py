# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Landmark slices must tile the slots once (head, TTA model) and be the datasets' (the hook)."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import BaseLoop

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets import KeypointCocoDataset
from toy_keypoint_set import toy_keypoint_metainfo
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES
from deepmark_mm.engine.hooks import KeypointSetCheckHook
from deepmark_mm.models.test_time_augs import DeepMarkTTAModel

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'deepmark'
TOY = toy_keypoint_metainfo()
TOY_HEAD = dict(num_classes=3, num_keypoints=15, keypoint_slices=TOY['keypoint_slices'])
GAP = list(KEYPOINT_SLICES[:-1]) + [(275, 290)]  # slots 290..293 belong to no category
OVERLAP = dict(num_classes=2, num_keypoints=58, keypoint_slices=[[0, 30], [25, 58]])


def _head(**kwargs):
    return MODELS.build(dict(type='DeepMarkHead', in_channels=3, feat_channels=4, **kwargs))


class _Detector(torch.nn.Module):
    """What DeepMarkTTAModel and the hook read of a detector: ``bbox_head`` and friends."""

    def __init__(self, head):
        super().__init__()
        self.data_preprocessor = torch.nn.Identity()
        self.bbox_head = head

    def extract_feat(self, inputs):
        return (inputs, )

    def test_step(self, data):
        return data


@pytest.mark.parametrize('kwargs, message', [
    (dict(keypoint_slices=GAP), r'slots \[290, 294\) after class 12 \(275, 290\) belong to no'),
    (OVERLAP, r'slots \[25, 30\) belong to both class 0 \(0, 30\) and class 1 \(25, 58\)'),
])
def test_head_refuses_slices_that_do_not_tile(kwargs, message):
    with pytest.raises(ValueError, match='DeepMarkHead: keypoint_slices must tile .* exactly '
                       'once: ' + message):
        _head(**kwargs)
    assert _head().keypoint_slices == [tuple(s) for s in KEYPOINT_SLICES]
    assert _head(**TOY_HEAD).keypoint_slices == [(0, 4), (4, 10), (10, 15)]


@pytest.mark.parametrize('slices, flip, message', [
    (GAP, None, r'slots \[290, 294\) after class 12'),
    ([(0, 30), (25, 58)] + list(KEYPOINT_SLICES[2:-1]) + [(275, 289)], None,
     r'slots \[25, 30\) belong to both class 0 \(0, 30\) and class 1 \(25, 58\)'),
    (TOY['keypoint_slices'], [4, 1, 2, 3, 0] + list(range(5, 15)),
     r'flip pair \(0, 4\) crosses categories class 0 and class 1'),
])
def test_tta_model_refuses_a_heads_slices_that_do_not_tile(slices, flip, message):
    """A head that does not check its slices itself (here: changed after building)."""
    head = _head() if flip is None else _head(**TOY_HEAD)
    head.keypoint_slices = [tuple(s) for s in slices]
    with pytest.raises(ValueError, match=r"DeepMarkTTAModel \(the head's slices\): .*" + message):
        DeepMarkTTAModel(_Detector(head), flip_indices=flip)
    assert DeepMarkTTAModel(_Detector(_head(**TOY_HEAD)), flip_indices=TOY['flip_indices'])


class _Loop(BaseLoop):

    def run(self):
        pass


def _runner(model, **datasets):
    """The runner attributes the hook reads; loops over the given datasets, others not built."""
    runner = SimpleNamespace(model=model, _train_loop=dict(type='EpochBasedTrainLoop'),
                             _val_loop=None, _test_loop=None)
    for split, dataset in datasets.items():
        setattr(runner, f'_{split}_loop', _Loop(runner, SimpleNamespace(dataset=dataset)))
    return runner


def _dataset(metainfo=None):
    return KeypointCocoDataset(ann_file='unused.json', metainfo=metainfo, lazy_init=True,
                               pipeline=[])


def test_hook_refuses_a_model_whose_landmark_set_is_not_the_datasets():
    hook, toy, deepfashion2 = KeypointSetCheckHook(), _dataset(TOY), _dataset()
    hook.before_run(_runner(_Detector(_head(**TOY_HEAD)), train=toy, val=toy))
    hook.before_run(_runner(_Detector(_head()), test=deepfashion2))
    tta = DeepMarkTTAModel(_Detector(_head(**TOY_HEAD)), flip_indices=TOY['flip_indices'])
    hook.before_run(_runner(tta, test=toy))
    with pytest.raises(ValueError, match=r'KeypointSetCheckHook: the model and '
                       r'val_dataloader\.dataset \(KeypointCocoDataset metainfo\) describe '
                       r'different landmark sets: 3 classes .* vs num_classes=13'):
        hook.before_run(_runner(_Detector(_head()), train=deepfashion2, val=toy))
    shifted = dict(TOY_HEAD, keypoint_slices=[[0, 5], [5, 10], [10, 15]])
    with pytest.raises(ValueError, match=r'train_dataloader\.dataset .*: square owns slots '
                       r'\(0, 4\) in the dataset and \(0, 5\) in the head'):
        hook.before_run(_runner(_Detector(_head(**shifted)), train=toy))
    tta = DeepMarkTTAModel(_Detector(_head(**TOY_HEAD)), flip_indices=list(range(15)))
    with pytest.raises(ValueError, match=r'test_dataloader\.dataset .*: slot 0 flips to 1 in '
                       'the dataset and to 0 in the model'):
        hook.before_run(_runner(tta, test=toy))


@pytest.mark.parametrize('name', ['deepmark_toy-landmarks_example.py',
                                  'deepmark_dla34_8xb5-63e_deepfashion2-512.py',
                                  'deepmark_dla46c_1xb8-4000it_synthetic-128.py'])
def test_every_config_runs_the_hook_also_with_custom_hooks(name):
    cfg = Config.fromfile(str(CONFIGS / name))
    assert cfg.default_hooks.keypoint_set_check == dict(type='KeypointSetCheckHook')
