# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Automatic landmark grouping (2010.12390 style) and tools/analysis_tools/auto_shared_channels."""
import json
from pathlib import Path

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, flip_indices
from deepmark_mm.datasets.shared_channel_table import (build_channel_table,
                                                       channel_flip_indices, check_channel_table,
                                                       load_channel_table)
from auto_shared_channels import greedy_position_channels, mirror_pooled_statistics
from deepfashion2_to_coco import coco_annotation_to_raw_item
from synthetic_garments import garment_template

REPO = Path(__file__).resolve().parents[2]
SHARED_COCO = (REPO / '..' / 'shared' / 'deepfashion2-samples' / 'kgdet_demo_dataset' /
               'demo_dataset-32.json')
VEST, SLING = 4, 5  # labels with the same 15-point layout in the toy set


def toy_coco(num_per_category: int = 6, seed: int = 0) -> dict:
    """Vests and slings whose landmarks sit at the same box-relative places (plus jitter)."""
    rng = np.random.default_rng(seed)
    layout = garment_template(VEST).landmarks()
    layout = (layout - layout.min(0)) / (layout.max(0) - layout.min(0))  # in [0, 1]^2
    annotations = []
    for label in (VEST, SLING):
        start, end = KEYPOINT_SLICES[label]
        for _ in range(num_per_category):
            x, y, w, h = rng.uniform(10, 50), rng.uniform(10, 50), rng.uniform(80, 120), 100.0
            points = layout + rng.uniform(-0.004, 0.004, layout.shape)
            keypoints = np.zeros((294, 3))
            keypoints[start:end, :2] = np.round(points * [w, h] + [x, y], 2)
            keypoints[start:end, 2] = 2
            annotations.append(dict(id=len(annotations) + 1, image_id=1, category_id=label + 1,
                                    bbox=[x, y, w, h], keypoints=keypoints.ravel().tolist(),
                                    iscrowd=0, area=w * h))
    return dict(images=[dict(id=1, file_name='000001.jpg', width=200, height=200)],
                annotations=annotations, categories=[])


def test_statistics_pooled_with_the_mirror_are_exact_mirrors():
    rng = np.random.default_rng(0)
    means, counts = rng.random((294, 2)), rng.integers(0, 5, 294)
    pooled, pooled_counts = mirror_pooled_statistics(means, counts, flip_indices())
    flip = flip_indices()
    assert (pooled_counts == counts + counts[flip]).all()
    seen = pooled_counts > 0
    assert seen.sum() > 250
    assert np.allclose(pooled[flip, 0][seen], 1 - pooled[seen, 0])
    assert np.allclose(pooled[flip, 1][seen], pooled[seen, 1])
    centred = flip == np.arange(294)
    assert np.allclose(pooled[centred & (counts > 0), 0], 0.5)


@pytest.mark.parametrize('threshold', [0.0, 0.05, 0.3, 10.0])
def test_grouping_is_valid_for_any_threshold(threshold):
    rng = np.random.default_rng(1)
    pooled, counts = mirror_pooled_statistics(rng.random((294, 2)), rng.integers(1, 4, 294),
                                              flip_indices())
    table = greedy_position_channels(pooled, counts, KEYPOINT_SLICES, flip_indices(), threshold)
    check_channel_table(table, KEYPOINT_SLICES, flip_indices())
    if threshold == 0.0:
        assert table.num_channels == 294
    else:
        assert 39 <= table.num_channels < 294  # never below the largest category's 39 slots
    permutation = channel_flip_indices(table, flip_indices())
    assert (permutation[table.slot_to_channel] == table.slot_to_channel[flip_indices()]).all()


def test_unlabelled_slots_stay_alone():
    pooled = np.full((294, 2), 0.5)
    counts = np.zeros(294, dtype=np.int64)
    table = greedy_position_channels(pooled, counts, KEYPOINT_SLICES, flip_indices(), 1.0)
    assert table.num_channels == 294


def run_tool(load_tool, annotations: Path, out: Path, *extra: str):
    tool = load_tool('tools/analysis_tools/auto_shared_channels.py')
    return tool.main([str(annotations), '--out', str(out), *extra])


def test_tool_merges_the_slots_at_the_same_place(tmp_path, load_tool):
    coco = tmp_path / 'toy.json'
    coco.write_text(json.dumps(toy_coco()))
    table = run_tool(load_tool, coco, tmp_path / 'table.json', '--threshold', '0.05',
                     '--out-py', str(tmp_path / 'table.py'))
    vest, sling = KEYPOINT_SLICES[VEST], KEYPOINT_SLICES[SLING]
    # every vest point shares its channel with the sling point at the same place, nothing else
    assert table.num_channels == 294 - 15
    assert (table.slot_to_channel[vest[0]:vest[1]] == table.slot_to_channel[sling[0]:sling[1]]
            ).all()
    assert load_channel_table(str(tmp_path / 'table.json')).slot_to_channel.tolist() == \
        table.slot_to_channel.tolist()
    namespace = {}
    exec((tmp_path / 'table.py').read_text(), namespace)
    assert namespace['kpt_heatmap_channels']['num_channels'] == 279
    assert namespace['kpt_heatmap_channels']['slot_to_channel'] == table.slot_to_channel.tolist()
    fragment = build_channel_table(namespace['kpt_heatmap_channels'], KEYPOINT_SLICES,
                                   flip_indices())
    assert fragment.slot_to_channel.tolist() == table.slot_to_channel.tolist()


def test_tool_reads_the_per_image_layout_the_same(tmp_path, load_tool):
    coco = toy_coco(num_per_category=3)
    annos = tmp_path / 'annos'
    annos.mkdir()
    for index, annotation in enumerate(coco['annotations'], 1):
        raw = coco_annotation_to_raw_item(annotation)
        (annos / f'{index:06d}.json').write_text(json.dumps({'source': 'user', 'pair_id': 1,
                                                             'item1': raw}))
    coco_path = tmp_path / 'toy.json'
    coco_path.write_text(json.dumps(coco))
    from_coco = run_tool(load_tool, coco_path, tmp_path / 'a.json', '--threshold', '0.05')
    from_folder = run_tool(load_tool, annos, tmp_path / 'b.json', '--threshold', '0.05')
    assert from_folder.slot_to_channel.tolist() == from_coco.slot_to_channel.tolist()


def test_tool_names_a_bad_annotation(tmp_path, load_tool):
    coco = toy_coco(num_per_category=1)
    coco['annotations'][1]['category_id'] = 14
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r'bad.json: annotation 2'):
        run_tool(load_tool, path, tmp_path / 'table.json')


def test_tool_on_the_real_samples(tmp_path, load_tool):
    if not SHARED_COCO.is_file():
        pytest.skip(f'{SHARED_COCO} is not available')
    table = run_tool(load_tool, SHARED_COCO, tmp_path / 'table.json', '--threshold', '0.1')
    check_channel_table(table, KEYPOINT_SLICES, flip_indices())
    assert 39 <= table.num_channels < 294
    # categories 3, 6 and 11 are absent from the samples: their slots stay alone
    for label in (2, 5, 10):
        start, end = KEYPOINT_SLICES[label]
        for slot in range(start, end):
            assert (table.slot_to_channel == table.slot_to_channel[slot]).sum() == 1
