# Copyright (c) deepmark_mm contributors. All rights reserved.
import json
import sys
from pathlib import Path

import cv2
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
