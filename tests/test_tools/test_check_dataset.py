# Copyright (c) deepmark_mm contributors. All rights reserved.
"""check_dataset.py lists every bad image and item in config mode, and always finishes."""
import json
from pathlib import Path

import pytest

from make_synthetic_deepfashion2 import make_synthetic_deepfashion2

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_dla34_1xb8-12e_synthetic-128.py'


@pytest.fixture()
def root(tmp_path) -> Path:
    """8 training images of 32 px."""
    make_synthetic_deepfashion2(str(tmp_path / 'data'), num_train=8, num_val=1, size=32, seed=11)
    return tmp_path / 'data'


def run(load_tool, root, out, *options):
    check_dataset = load_tool('tools/analysis_tools/check_dataset.py')
    return check_dataset.main([
        str(CONFIG), '--split', 'train', '--out', str(out), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}', *options
    ])


@pytest.mark.parametrize('skip_invalid', [False, True])
def test_missing_image_is_listed_and_counted(root, tmp_path, load_tool, capsys, skip_invalid):
    missing = root / 'train' / 'image' / '000003.jpg'
    missing.unlink()
    out = tmp_path / 'bad.txt'
    # before: a traceback (skip_invalid=False), or "7 images decoded, 0 unreadable" and status 0
    status = run(load_tool, root, out, f'train_dataloader.dataset.skip_invalid={skip_invalid}')
    lines = [line.split('\t') for line in out.read_text().splitlines()]
    assert status == 1 and len(lines) == 1
    assert lines[0][0] == str(missing) and 'FileNotFoundError' in lines[0][1]
    stdout = capsys.readouterr().out
    assert '8 images: 7 decoded, 1 missing, unreadable or unusable; 0 other problems' in stdout
    assert str(missing) in stdout


def test_invalid_items_and_unreadable_annotation_file_are_listed(root, tmp_path, load_tool,
                                                                 capsys):
    ann_file = root / 'train' / 'deepfashion2_train.json'
    coco = json.loads(ann_file.read_text())
    coco['annotations'][0]['category_id'] = 14
    coco['annotations'][2]['bbox'][2] = -5
    ann_file.write_text(json.dumps(coco))
    out = tmp_path / 'bad.txt'
    assert run(load_tool, root, out) == 1  # before: stopped at the first item, no list
    lines = [line.split('\t') for line in out.read_text().splitlines()]
    assert [path for path, _ in lines] == [str(ann_file)] * 2
    assert f'annotation {coco["annotations"][0]["id"]}: category_id 14' in lines[0][1]
    assert f'annotation {coco["annotations"][2]["id"]}: bbox' in lines[1][1]
    assert '8 images: 8 decoded, 0 missing, unreadable or unusable; 2 other problems' in \
        capsys.readouterr().out

    ann_file.write_text(ann_file.read_text()[:100])
    assert run(load_tool, root, out) == 1
    lines = [line.split('\t') for line in out.read_text().splitlines()]
    assert len(lines) == 1 and lines[0][0] == str(ann_file)
    assert lines[0][1].startswith('unreadable or corrupt annotation file')


def test_keypoint_coco_dataset_skips_invalid_items(tmp_path, load_tool, capsys):
    """Any ``KeypointCocoDataset`` (here the toy set's) is read with ``skip_invalid=True``."""
    from toy_keypoint_set import make_toy_keypoint_set
    make_toy_keypoint_set(str(tmp_path / 'data'), num_train=4, num_val=1, size=32, seed=0)
    ann_file = tmp_path / 'data' / 'train' / 'toy_train.json'
    coco = json.loads(ann_file.read_text())
    coco['annotations'][1]['category_id'] = 9
    ann_file.write_text(json.dumps(coco))
    out = tmp_path / 'bad.txt'
    check_dataset = load_tool('tools/analysis_tools/check_dataset.py')
    # before: the dataset raised at the bad item, one "unreadable" problem and no images
    assert check_dataset.main([
        str(REPO / 'configs' / 'deepmark' / 'deepmark_toy-landmarks_example.py'), '--out',
        str(out), '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path / "data"}'
    ]) == 1
    lines = [line.split('\t') for line in out.read_text().splitlines()]
    assert len(lines) == 1 and lines[0][0] == str(ann_file)
    assert f'annotation {coco["annotations"][1]["id"]}: category_id 9' in lines[0][1]
    assert '4 images: 4 decoded, 0 missing, unreadable or unusable; 1 other problems' in \
        capsys.readouterr().out
