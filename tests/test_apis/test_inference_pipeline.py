# Copyright (c) deepmark_mm contributors. All rights reserved.
import numpy as np
import pytest

from deepmark_mm.apis import build_inference_pipeline, image_ids, load_deepmark_config
from deepmark_mm.models.test_time_augs import resolve_tta_config


def test_folder_lists_images_sorted_and_skips_other_files(inferencer, synthetic_image_dir):
    listed = inferencer._inputs_to_list(str(synthetic_image_dir['folder']))
    assert listed == synthetic_image_dir['files']
    assert all(path.endswith('.jpg') for path in listed)


def test_inputs_are_checked_and_named(inferencer, tmp_path, synthetic_image_dir):
    array = np.zeros((5, 7, 3), dtype=np.uint8)
    mixed = inferencer._inputs_to_list([synthetic_image_dir['files'][0], array])
    assert mixed[0] == synthetic_image_dir['files'][0] and mixed[1] is array
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        inferencer([synthetic_image_dir['files'][0], str(tmp_path / 'missing.jpg')])
    with pytest.raises(ValueError, match=r'input 1: image array has shape \(5, 7\)'):
        inferencer([array, np.zeros((5, 7), dtype=np.uint8)])
    with pytest.raises(FileNotFoundError, match='no image file'):
        inferencer(str(tmp_path))
    with pytest.raises(ValueError, match='input 0 is a int'):
        inferencer([3])
    with pytest.raises(ValueError, match='batch_size must be >= 1'):
        inferencer(array, batch_size=0)


def test_image_ids_follow_deepfashion2_stems_or_positions():
    assert image_ids(['a/000012.jpg', 'b/000003.png']) == [12, 3]
    # any non-numeric stem, array or repeated id: positions for every image
    assert image_ids(['a/000012.jpg', 'b/photo.png']) == [1, 2]
    assert image_ids(['a/000012.jpg', np.zeros((2, 2, 3))]) == [1, 2]
    assert image_ids(['a/7.jpg', 'b/007.jpg']) == [1, 2]


def test_pipeline_reads_arrays_keeps_the_centre_warp_and_drops_dataset_keys():
    cfg = load_deepmark_config('deepmark_dla34_1xb8-12e_synthetic-128')
    pipeline = build_inference_pipeline(cfg.test_dataloader.dataset.pipeline, input_size=(64, 64))
    image = np.random.default_rng(0).integers(0, 255, (50, 100, 3)).astype(np.uint8)
    packed = pipeline(image)
    assert tuple(packed['inputs'].shape) == (3, 64, 64)
    meta = packed['data_samples'].metainfo
    assert 'img_id' not in meta and 'instances' not in meta
    assert meta['ori_shape'] == (50, 100) and meta['img_shape'] == (64, 64)
    # CenterNet's test warp: image centre -> input centre, scale max(h, w) -> input side
    homography = meta['homography_matrix']
    np.testing.assert_allclose(homography @ [50, 25, 1], [32, 32, 1], atol=1e-4)
    np.testing.assert_allclose(homography @ [0, 0, 1], [0, 16, 1], atol=1e-4)
    assert len(packed['data_samples'].gt_instances) == 0
    # the configured size is kept when none is forced
    default = build_inference_pipeline(cfg.test_dataloader.dataset.pipeline)(image)
    assert tuple(default['inputs'].shape) == (3, 128, 128)


def test_tta_pipeline_is_adapted_recursively():
    cfg = load_deepmark_config('deepmark_dla34_1xb8-12e_synthetic-128_flip')
    _, tta_pipeline = resolve_tta_config(cfg)
    pipeline = build_inference_pipeline(tta_pipeline, input_size=(64, 64))
    packed = pipeline(np.zeros((40, 60, 3), dtype=np.uint8))
    # TestTimeAug: one list entry per view
    assert [tuple(x.shape) for x in packed['inputs']] == [(3, 64, 64)]
    assert 'img_id' not in packed['data_samples'][0].metainfo
    with pytest.raises(ValueError, match='no LoadImageFromFile'):
        build_inference_pipeline(tta_pipeline[1:])
