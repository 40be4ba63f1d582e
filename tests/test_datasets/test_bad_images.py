# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A corrupt JPEG neither ends training nor hides: skipped with one warning, counted, listed."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets import DeepFashion2Dataset
from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
from deepmark_mm.datasets.transforms import LoadImageFromFileOrSkip, TooManyBadImagesError
from deepmark_mm.datasets.transforms import loading

REPO = Path(__file__).resolve().parents[2]
init_default_scope('mmdet')


@pytest.fixture()
def root_with_corrupt_jpeg(tmp_path):
    """4 training images of 48 px, the second one overwritten by random bytes."""
    make_synthetic_deepfashion2(str(tmp_path), num_train=4, num_val=1, size=48, seed=3)
    bad = tmp_path / 'train' / 'image' / '000002.jpg'
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    return tmp_path, str(bad)


@pytest.fixture()
def warnings_logged(monkeypatch):
    messages = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, logger=None, level=None: messages.append((level, msg)))
    return messages


def _train_dataset(root, **loader_kwargs):
    return DeepFashion2Dataset(
        data_root=str(root),
        ann_file='train/deepfashion2_train.json',
        data_prefix=dict(img='train/image/'),
        serialize_data=False,
        pipeline=[dict(type='LoadImageFromFileOrSkip', **loader_kwargs),
                  dict(type='LoadDeepFashion2Annotations')])


def test_training_refetches_past_a_corrupt_jpeg_with_one_warning(root_with_corrupt_jpeg,
                                                                 warnings_logged):
    root, bad = root_with_corrupt_jpeg
    dataset = _train_dataset(root)
    bad_index = [dataset.get_data_info(i)['img_path'] for i in range(4)].index(bad)
    np.random.seed(0)
    samples = [dataset[bad_index], dataset[bad_index], dataset[0]]
    for sample in samples:  # another image stands in for the bad one, decoded
        assert sample['img_path'] != bad and sample['img'].shape == (48, 48, 3)
    loader = dataset.pipeline.transforms[0]
    assert (loader.num_failed, loader.bad_files) == (2, [bad])
    assert loader.num_loads == 5  # 2 failures + 3 decoded stand-ins
    assert len(warnings_logged) == 1  # once per file
    level, message = warnings_logged[0]
    assert level == 30 and bad in message


def test_too_many_bad_loads_stop_with_count_and_files(root_with_corrupt_jpeg, warnings_logged):
    root, bad = root_with_corrupt_jpeg
    good = str(root / 'train' / 'image' / '000001.jpg')
    loader = LoadImageFromFileOrSkip(max_bad_share=0.4, min_loads=3)
    assert loader(dict(img_path=good)) is not None
    assert loader(dict(img_path=bad)) is None  # 1 of 2: below min_loads
    assert loader(dict(img_path=good)) is not None  # 1 of 3 = 33% <= 40%
    with pytest.raises(TooManyBadImagesError, match=r'2 of 4 image loads failed \(50\.0%') as err:
        loader(dict(img_path=bad))
    assert bad in str(err.value)


def test_missing_file_is_skipped_too(tmp_path, warnings_logged):
    loader = LoadImageFromFileOrSkip()
    assert loader(dict(img_path=str(tmp_path / 'absent.jpg'))) is None
    assert loader.num_failed == 1 and 'absent.jpg' in warnings_logged[0][1]


def test_check_dataset_lists_the_corrupt_file(root_with_corrupt_jpeg, tmp_path, load_tool):
    root, bad = root_with_corrupt_jpeg
    check_dataset = load_tool('tools/analysis_tools/check_dataset.py')
    out = tmp_path / 'bad.txt'
    config = REPO / 'configs' / 'deepmark' / 'deepmark_dla34_1xb8-12e_synthetic-128.py'
    status = check_dataset.main([
        str(config), '--split', 'train', '--out', str(out), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}'
    ])
    lines = out.read_text().splitlines()
    assert status == 1 and len(lines) == 1 and lines[0].split('\t') == [bad, 'not decodable']
    assert check_dataset.main(['--images', str(root / 'validation' / 'image'), '--out',
                               str(out)]) == 0
    assert out.read_text() == ''
