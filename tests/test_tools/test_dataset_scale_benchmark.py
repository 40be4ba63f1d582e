# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_dataset_scale.py: generated splits load as the real ones."""
import collections
import json

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS


def test_generated_split_has_the_asked_sizes_and_real_landmark_counts(tmp_path, load_tool):
    tool = load_tool('tools/analysis_tools/benchmark_dataset_scale.py')
    split_dir = str(tmp_path)
    tool.link_images(split_dir, num_images=10)
    tool.write_coco(str(tmp_path / 'coco.json'), 'train', num_images=10, num_items=160)
    tool.write_per_image(split_dir, 'train', num_images=10, num_items=160)
    with open(tmp_path / 'coco.json') as file:
        coco = json.load(file)
    assert len(coco['images']) == 10 and len(coco['annotations']) == 160
    assert [a['id'] for a in coco['annotations']] == list(range(1, 161))
    assert all(len(a['keypoints']) == 3 * NUM_KEYPOINTS for a in coco['annotations'])
    # real category shares (rounded down; the rest goes to short sleeve tops)
    counts = collections.Counter(a['category_id'] for a in coco['annotations'])
    shares = [160 * n / 312186 for n in tool.ITEMS_PER_CATEGORY['train']]
    assert [counts[c + 1] for c in range(1, 13)] == [int(share) for share in shares[1:]]
    assert counts[1] == 160 - sum(int(share) for share in shares[1:])
    results = {layout: tool.measure(split_dir, layout) for layout in ('coco', 'per_image')}
    for layout, result in results.items():
        assert result['images'] == 10 and result['serialized_mb'] > 0 and result['load_s'] >= 0
    from deepmark_mm.datasets import DeepFashion2Dataset
    for kwargs in (dict(ann_file='coco.json', data_prefix=dict(img='image/')),
                   dict(ann_file='', data_prefix=dict(img='image/', ann='annos/'))):
        dataset = DeepFashion2Dataset(data_root=split_dir, pipeline=[], **kwargs)
        instances = [i for k in range(len(dataset)) for i in dataset.get_data_info(k)['instances']]
        assert len(instances) == 160
        for instance in instances:
            start, end = KEYPOINT_SLICES[instance['bbox_label']]
            visible = instance['keypoints_visible']
            assert visible[start:end].tolist() == [1 + slot % 2 for slot in range(start, end)]
            assert not visible[:start].any() and not visible[end:].any()
