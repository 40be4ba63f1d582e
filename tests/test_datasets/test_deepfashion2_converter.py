# Copyright (c) deepmark_mm contributors. All rights reserved.
import json
import runpy
import sys
from pathlib import Path

import pytest

from deepfashion2_to_coco import coco_to_per_image, per_image_to_coco
from make_synthetic_deepfashion2 import coco_file_name

REPO = Path(__file__).resolve().parents[2]


def without_ids(annotations):
    return [{key: value for key, value in annotation.items() if key != 'id'}
            for annotation in annotations]


def test_kgdet_demo_round_trip_reproduces_every_annotation_number(samples_dir, demo_coco, tmp_path):
    image_dir = samples_dir / 'kgdet_demo_dataset' / 'image'
    written = coco_to_per_image(demo_coco, str(tmp_path), image_dir=str(image_dir))
    assert written == 32
    item = json.loads((tmp_path / 'annos' / '002092.json').read_text())
    assert item['item1']['bounding_box'] == [16, 417, 382, 700]  # [x, y, x + w, y + h]
    assert len(item['item1']['landmarks']) == 3 * 14  # trousers own 14 landmarks
    coco, problems = per_image_to_coco(str(tmp_path))
    assert problems == []
    original_images = sorted(demo_coco['images'], key=lambda image: image['id'])
    assert coco['images'] == original_images
    original = sorted(demo_coco['annotations'], key=lambda a: (a['image_id'], a['id']))
    assert without_ids(coco['annotations']) == without_ids(original)
    assert [annotation['id'] for annotation in coco['annotations']] == list(range(1, 56))
    assert coco['categories'] == demo_coco['categories']
    assert coco['info'] == demo_coco['info'] and coco['licenses'] == demo_coco['licenses']


def test_synthetic_per_image_converts_to_its_coco_file(synthetic_root):
    expected = json.loads((synthetic_root / coco_file_name('validation')).read_text())
    coco, problems = per_image_to_coco(str(synthetic_root / 'validation'))
    assert problems == [] and coco == expected


def run_cli(monkeypatch, *args: str) -> None:
    """Run the converter script's ``__main__`` in this process."""
    script = REPO / 'tools' / 'dataset_converters' / 'deepfashion2_to_coco.py'
    monkeypatch.setattr(sys, 'argv', [str(script), *args])
    runpy.run_path(str(script), run_name='__main__')


def test_cli_with_workers_matches_in_process_conversion(synthetic_root, tmp_path, monkeypatch):
    out = tmp_path / 'train.json'
    run_cli(monkeypatch, str(synthetic_root / 'train'), str(out), '--workers', '2')
    expected = json.loads((synthetic_root / coco_file_name('train')).read_text())
    assert json.loads(out.read_text()) == expected


def test_cli_reports_or_skips_bad_items(synthetic_root, tmp_path, monkeypatch, capsys):
    split = tmp_path / 'split'
    coco_to_per_image(str(synthetic_root / coco_file_name('validation')), str(split),
                      image_dir=str(synthetic_root / 'validation' / 'image'))
    anno_path = split / 'annos' / '000002.json'
    anno = json.loads(anno_path.read_text())
    anno['item1']['category_id'] = 42
    anno_path.write_text(json.dumps(anno))
    with pytest.raises(SystemExit) as failed:
        run_cli(monkeypatch, str(split), str(tmp_path / 'a.json'))
    assert '000002.json: item1: category_id 42 is outside 1..13' in str(failed.value.code)
    run_cli(monkeypatch, str(split), str(tmp_path / 'b.json'), '--skip-invalid')
    assert '(1 problems skipped)' in capsys.readouterr().out
    full = json.loads((synthetic_root / coco_file_name('validation')).read_text())
    assert len(json.loads((tmp_path / 'b.json').read_text())['annotations']) == \
        len(full['annotations']) - 1


@pytest.mark.parametrize('bad, message', [
    ({'images': [{'id': 1, 'file_name': '000001.jpg', 'width': 9, 'height': 9}],
      'annotations': [{'id': 3, 'image_id': 2}]}, 'annotation 3 refers to unknown image 2'),
])
def test_reverse_rejects_dangling_annotations(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        coco_to_per_image(bad, str(tmp_path))
