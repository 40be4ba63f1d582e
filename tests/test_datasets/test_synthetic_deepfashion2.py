# Copyright (c) deepmark_mm contributors. All rights reserved.
import collections
import json
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfashion2_to_coco import sorted_item_keys
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, flip_indices
from make_synthetic_deepfashion2 import coco_file_name, polygon_coverage, synthesize_sample
from synthetic_garments import garment_template

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('label', range(13))
def test_template_has_the_category_landmarks_and_its_mirror_symmetry(label):
    template = garment_template(label)
    start, end = KEYPOINT_SLICES[label]
    landmarks = template.landmarks()
    assert landmarks.shape == (end - start, 2)
    local_flip = flip_indices()[start:end] - start
    mirrored = landmarks * [-1, 1]
    np.testing.assert_allclose(landmarks[local_flip], mirrored, atol=1e-12)
    # lower-numbered slot of each pair on the image left, like the DeepFashion2 annotations
    for a, b in enumerate(local_flip):
        if a < b:
            assert landmarks[a, 0] < landmarks[b, 0]
    # every landmark is a vertex of a drawn polygon (visually grounded), none coincide
    drawn = {name for names, _ in template.layers for name in names}
    assert set(template.slots) <= drawn
    assert len({tuple(np.round(p, 6)) for p in landmarks}) == len(landmarks)


def test_random_templates_stay_symmetric():
    rng = np.random.default_rng(5)
    for label in range(13):
        template = garment_template(label, rng)
        start, end = KEYPOINT_SLICES[label]
        landmarks = template.landmarks()
        np.testing.assert_allclose(landmarks[flip_indices()[start:end] - start],
                                   landmarks * [-1, 1], atol=1e-12)


def test_drawing_uses_continuous_coordinates_so_flips_match():
    """A polygon drawn at vertices ``(x, y)`` mirrors exactly onto the one at ``(W - x, y)``."""
    polygon = np.array([[10, 7], [40, 12], [33, 50], [14, 41]], dtype=np.float64)
    drawn = polygon_coverage(polygon, 64)
    mirrored = polygon_coverage(polygon * [-1, 1] + [64, 0], 64)
    assert np.abs(mirrored - drawn[:, ::-1]).max() <= 0.13  # one 8x sample column
    # a vertex at integer (x, y) sits on pixel corners: the box [10, 40) x [7, 50) is filled
    rows, cols = np.nonzero(drawn > 0.5)
    assert (cols.min(), cols.max() + 1, rows.min(), rows.max() + 1) == (10, 40, 7, 50)


def test_samples_are_deterministic_and_consistent():
    img_a, anno_a = synthesize_sample(np.random.default_rng([1, 2, 3]), 96)
    img_b, anno_b = synthesize_sample(np.random.default_rng([1, 2, 3]), 96)
    np.testing.assert_array_equal(img_a, img_b)
    assert anno_a == anno_b
    img_c, _ = synthesize_sample(np.random.default_rng([1, 2, 4]), 96)
    assert not np.array_equal(img_a, img_c)


def test_generated_set_covers_categories_occlusion_and_sizes(synthetic_root):
    counts = collections.Counter()
    visibility = collections.Counter()
    fractions = []
    for split in ('train', 'validation'):
        coco = json.loads((synthetic_root / coco_file_name(split)).read_text())
        for annotation in coco['annotations']:
            counts[annotation['category_id']] += 1
            visibility.update(np.asarray(annotation['keypoints'])[2::3].astype(int).tolist())
            x, y, w, h = annotation['bbox']
            fractions.append(max(w, h) / 96)
            assert x >= 0 and y >= 0 and x + w < 96 and y + h < 96
    assert len(counts) >= 10
    assert visibility[2] > visibility[1] > 0
    assert 0.3 <= min(fractions) and max(fractions) <= 0.85
    per_image = [len(sorted_item_keys(json.loads(path.read_text()), path.name))
                 for path in sorted((synthetic_root / 'train' / 'annos').glob('*.json'))]
    assert set(per_image) <= {1, 2, 3} and len(set(per_image)) > 1


def test_occluded_landmarks_lie_under_a_later_garment(synthetic_root):
    anno = None
    for path in sorted((synthetic_root / 'train' / 'annos').glob('*.json')):
        candidate = json.loads(path.read_text())
        if any(1 in candidate[key]['landmarks'][2::3]
               for key in sorted_item_keys(candidate, path.name)):
            anno = candidate
            break
    assert anno is not None
    keys = sorted_item_keys(anno, 'anno')
    for index, key in enumerate(keys):
        triplets = np.asarray(anno[key]['landmarks'], dtype=np.float32).reshape(-1, 3)
        later = [np.asarray(anno[other]['segmentation'][0], np.float32).reshape(-1, 1, 2)
                 for other in keys[index + 1:]]
        for x, y, v in triplets:
            if v > 0:
                covered = any(cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0
                              for polygon in later)
                assert covered == (v == 1)


def test_cli_writes_both_layouts(tmp_path, monkeypatch):
    script = REPO / 'tools' / 'dataset_converters' / 'make_synthetic_deepfashion2.py'
    monkeypatch.setattr(sys, 'argv', [str(script), str(tmp_path), '--num-train', '3',
                                      '--num-val', '2', '--size', '64', '--seed', '1'])
    runpy.run_path(str(script), run_name='__main__')
    for split, count in (('train', 3), ('validation', 2)):
        assert len(list((tmp_path / split / 'image').glob('*.jpg'))) == count
        assert len(list((tmp_path / split / 'annos').glob('*.json'))) == count
        coco = json.loads((tmp_path / coco_file_name(split)).read_text())
        assert [image['file_name'] for image in coco['images']] == \
            [f'{i:06d}.jpg' for i in range(1, count + 1)]
        assert cv2.imread(str(tmp_path / split / 'image' / '000001.jpg')).shape == (64, 64, 3)


def test_worker_processes_write_the_same_set(tmp_path):
    from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
    serial = make_synthetic_deepfashion2(str(tmp_path / 'serial'), num_train=6, num_val=3,
                                         size=64, seed=5)
    parallel = make_synthetic_deepfashion2(str(tmp_path / 'parallel'), num_train=6, num_val=3,
                                           size=64, seed=5, num_workers=2)
    assert parallel == serial
    for split in ('train', 'validation'):
        for image in serial[split]['images']:
            name = Path(split) / 'image' / image['file_name']
            np.testing.assert_array_equal(cv2.imread(str(tmp_path / 'parallel' / name)),
                                          cv2.imread(str(tmp_path / 'serial' / name)))
            anno = Path(split) / 'annos' / image['file_name'].replace('.jpg', '.json')
            assert (tmp_path / 'parallel' / anno).read_text() == \
                (tmp_path / 'serial' / anno).read_text()
    assert len(serial['train']['annotations']) >= 6
