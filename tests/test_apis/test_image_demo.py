# Copyright (c) deepmark_mm contributors. All rights reserved.
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES

REPO = Path(__file__).resolve().parents[2]


def test_demo_on_a_folder_with_tta_writes_drawings_and_json(inferencer, synthetic_image_dir,
                                                            tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / 'random.pth'
    torch.save(
        dict(
            state_dict=inferencer.model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), checkpoint)
    sys.path.insert(0, str(REPO / 'tools' / 'demo'))
    try:
        import image_demo
    finally:
        sys.path.pop(0)
    out_dir = tmp_path / 'out'
    monkeypatch.setattr(sys, 'argv', [
        'image_demo.py',
        str(synthetic_image_dir['folder']), 'deepmark_dla34_1xb8-12e_synthetic-128',
        str(checkpoint), '--tta', '--score-thr', '0.05', '--out-dir',
        str(out_dir), '--device', 'cpu'
    ])
    image_demo.main()
    printed = capsys.readouterr()
    assert '\n2 image(s), ' in printed.out
    for stem in ('000001', '000002'):
        assert cv2.imread(str(out_dir / 'vis' / f'{stem}.jpg')).shape == (128, 128, 3)
        readable = json.load(open(out_dir / 'preds' / f'{stem}.json'))
        assert readable['img_id'] == int(stem)
        assert all(item['score'] >= 0.05 for item in readable['items'])
    boxes = json.load(open(out_dir / 'results.bbox.json'))
    assert {b['image_id'] for b in boxes} <= {1, 2}


def _demo_module():
    sys.path.insert(0, str(REPO / 'tools' / 'demo'))
    try:
        import image_demo
    finally:
        sys.path.pop(0)
    return image_demo


def test_demo_skips_a_corrupt_image_and_writes_the_rest(inferencer, synthetic_image_dir,
                                                        tmp_path, monkeypatch, capsys):
    checkpoint = tmp_path / 'random.pth'
    torch.save(dict(state_dict=inferencer.model.state_dict()), checkpoint)
    folder = tmp_path / 'three'
    folder.mkdir()
    for name in ('000001.jpg', '000003.jpg'):
        (folder / name).write_bytes(Path(synthetic_image_dir['files'][0]).read_bytes())
    (folder / '000002.jpg').write_bytes(bytes(range(256)) * 3)  # not a JPEG
    image_demo = _demo_module()
    out_dir = tmp_path / 'out'
    argv = ['image_demo.py', str(folder), 'deepmark_dla34_1xb8-12e_synthetic-128',
            str(checkpoint), '--score-thr', '0', '--out-dir', str(out_dir), '--batch-size', '2']
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.warns(UserWarning, match='000002.jpg'):
        assert image_demo.main() == 0
    printed = capsys.readouterr().out
    assert '\n2 image(s), ' in printed and '1 unreadable image(s) skipped' in printed
    assert sorted(p.name for p in (out_dir / 'preds').iterdir()) == ['000001.json', '000003.json']
    assert sorted(p.name for p in (out_dir / 'vis').iterdir()) == ['000001.jpg', '000003.jpg']
    boxes = json.load(open(out_dir / 'results.bbox.json'))
    assert {b['image_id'] for b in boxes} == {1, 3}
    keypoints = json.load(open(out_dir / 'results.keypoints.json'))
    assert {k['image_id'] for k in keypoints} == {1, 3}

    monkeypatch.setattr(sys, 'argv', argv + ['--strict'])
    with pytest.warns(UserWarning, match='skipping'):
        assert image_demo.main() == 1
    capsys.readouterr()
    for name in ('000001.jpg', '000003.jpg'):
        (folder / name).unlink()
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.warns(UserWarning, match='skipping'):
        assert image_demo.main() == 1
    assert 'no image could be processed' in capsys.readouterr().err


def test_demo_caps_the_drawing_size_and_can_skip_drawing(inferencer, tmp_path, monkeypatch):
    """A 4000x3000 photo is drawn 2048 pixels wide by default; ``--no-draw`` writes no drawing."""
    checkpoint = tmp_path / 'random.pth'
    torch.save(dict(state_dict=inferencer.model.state_dict()), checkpoint)
    folder = tmp_path / 'large'
    folder.mkdir()
    cv2.imwrite(str(folder / '000001.jpg'), np.zeros((3000, 4000, 3), np.uint8))
    image_demo = _demo_module()
    argv = ['image_demo.py', str(folder), 'deepmark_dla34_1xb8-12e_synthetic-128',
            str(checkpoint), '--score-thr', '0']
    monkeypatch.setattr(sys, 'argv', argv + ['--out-dir', str(tmp_path / 'capped')])
    assert image_demo.main() == 0
    assert cv2.imread(str(tmp_path / 'capped' / 'vis' / '000001.jpg')).shape == (1536, 2048, 3)
    monkeypatch.setattr(sys, 'argv', argv + ['--out-dir', str(tmp_path / 'plain'), '--no-draw'])
    assert image_demo.main() == 0
    assert not (tmp_path / 'plain' / 'vis').exists()
    assert (tmp_path / 'plain' / 'preds' / '000001.json').is_file()
