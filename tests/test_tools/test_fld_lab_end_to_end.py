# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The FLD lab-photo config end to end on a few real photos of ../shared (skipped when absent).

Convert 6 photos (tools/dataset_converters/fld_lab_photos_to_coco.py), train the lab config a few
iterations at 64x64 (tools/train.py), test with --tta (tools/test.py): the project's box / landmark
mAP and mmpose's PCK / AUC / EPE on matched detections come out of one run with the FLD landmark
set."""
import csv
import json
import math
import os
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets import get_fld_metainfo

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / '..' / 'shared' / 'fashion-landmarks' / 'fld_lab_photos'
CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_lite_1xb8-1200it_fld-lab-256.py'
ITERS = 3


def small_lab_set(tmp: Path) -> Path:
    """6 lab photos in tmp: the first 2 and the last of each type in name order, so that the first
    4 names (train) and the last 2 (test) both hold upper and lower body."""
    if not (PHOTOS / 'labels.csv').is_file():
        pytest.skip(f'{PHOTOS} is absent')
    with open(PHOTOS / 'labels.csv', newline='') as file:
        rows = sorted(csv.DictReader(file), key=lambda row: row['image_name'])
    picked = []
    for kind in ('0.0', '1.0'):  # upper, lower body
        of_kind = [row for row in rows if row['category_type'] == kind]
        picked += of_kind[:2] + of_kind[-1:]
    picked.sort(key=lambda row: row['image_name'])
    assert {row['category_type'] for row in picked[4:]} == {'0.0', '1.0'}, 'test split lacks a type'
    folder = tmp / 'photos'
    folder.mkdir()
    for row in picked:
        os.symlink(PHOTOS / row['image_name'], folder / row['image_name'])
    with open(folder / 'labels.csv', 'w', newline='') as file:
        writer = csv.DictWriter(file, fieldnames=list(picked[0]))
        writer.writeheader()
        writer.writerows(picked)
    return folder


def run_tool(load_tool, name: str, *argv: str) -> None:
    module = load_tool(f'tools/{name}.py')
    with mock.patch.object(sys, 'argv', [f'{name}.py', *argv]):
        module.main()


def data_options(tmp: Path) -> list:
    options = [f'ann_root={tmp}/json/', f'photo_root={tmp}/photos/']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for index, kind in enumerate(('upper', 'lower')):
            split = 'train' if loader == 'train_dataloader' else 'test'
            part = f'{loader}.dataset.datasets.{index}'
            options += [f'{part}.ann_file={tmp}/json/fld_{kind}_{split}.json',
                        f'{part}.data_prefix.img={tmp}/photos/']
            options.append(f'{part}.pipeline.2.input_size=64')  # (Random)CenterAffine
    return options


@pytest.fixture(scope='module')
def trained(tmp_path_factory, load_tool):
    tmp = tmp_path_factory.mktemp('fld_lab')
    photos = small_lab_set(tmp)
    convert = load_tool('tools/dataset_converters/fld_lab_photos_to_coco.py').convert
    files = convert(str(photos), str(tmp / 'json'), num_train=4)
    torch.set_num_threads(1)
    run_tool(load_tool, 'train', str(CONFIG), '--work-dir', str(tmp / 'train'), '--cfg-options',
             f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
             f'default_hooks.checkpoint.interval={ITERS}', 'train_dataloader.batch_size=2',
             'model.backbone.pretrained=False', *data_options(tmp))
    return tmp, tmp / 'train' / f'iter_{ITERS}.pth', files


def test_converted_split_holds_both_types(trained):
    _, _, files = trained
    counts = {name: len(coco['images']) for name, coco in files.items()}
    assert sum(n for name, n in counts.items() if name.endswith('_train.json')) == 4
    assert sum(n for name, n in counts.items() if name.endswith('_test.json')) == 2
    assert counts['fld_upper_train.json'] == counts['fld_lower_train.json'] == 2
    assert counts['fld_upper_test.json'] == counts['fld_lower_test.json'] == 1


def test_checkpoint_has_the_fld_landmark_set(trained):
    _, checkpoint, _ = trained
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    meta = get_fld_metainfo()
    assert tuple(state['meta']['dataset_meta']['classes']) == meta['classes']
    np.testing.assert_array_equal(state['meta']['dataset_meta']['flip_indices'],
                                  meta['flip_indices'])
    weights = state['state_dict']
    assert weights['bbox_head.heatmap_head.0.2.weight'].shape[0] == 3
    assert weights['bbox_head.kpt_heatmap_head.0.2.weight'].shape[0] == 18
    assert weights['bbox_head.kpt_reg_head.0.2.weight'].shape[0] == 36


def test_tools_test_with_tta_reports_map_and_mmpose_metrics(trained, load_tool):
    tmp, checkpoint, _ = trained
    work_dir = tmp / 'test'
    run_tool(load_tool, 'test', str(CONFIG), str(checkpoint), '--tta', '--work-dir',
             str(work_dir), '--cfg-options', *data_options(tmp))
    metrics = json.loads(next(work_dir.glob('*/*.json')).read_text())
    for key in ('bbox_mAP', 'kpt_mAP', 'kpt_vis_mAP'):
        value = metrics[f'fld/{key}']
        assert math.isfinite(value) and 0 <= value <= 1, (key, value)
    matched = metrics['matched/matched']
    assert 0 <= matched <= 1
    # 3 iterations from random weights: PCK / AUC / EPE exist, NaN only when nothing matched
    for key in ('PCK', 'AUC', 'EPE'):
        value = metrics[f'matched/{key}']
        assert math.isnan(value) == (matched == 0), (key, value, matched)
