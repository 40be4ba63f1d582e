# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_dataset_scale.py: generated annotations load as the real ones."""
import cv2
import numpy as np

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES


def test_generated_split_has_the_asked_sizes_and_real_landmark_counts(tmp_path, load_tool):
    tool = load_tool('tools/analysis_tools/benchmark_dataset_scale.py')
    (tmp_path / 'image').mkdir()
    cv2.imwrite(str(tmp_path / 'image' / 'shared.jpg'), np.zeros((8, 8, 3), np.uint8))
    tool.write_annotations(str(tmp_path / 'a.json'), num_images=10, num_items=16)
    result = tool.measure(str(tmp_path), 'a.json')
    assert result['images'] == 10 and result['serialized_mb'] > 0
    from deepmark_mm.datasets import DeepFashion2Dataset
    dataset = DeepFashion2Dataset(data_root=str(tmp_path), ann_file='a.json',
                                  data_prefix=dict(img='image/'), pipeline=[])
    instances = [i for k in range(len(dataset)) for i in dataset.get_data_info(k)['instances']]
    assert len(instances) == 16
    for instance in instances:
        start, end = KEYPOINT_SLICES[instance['bbox_label']]
        visible = np.flatnonzero(instance['keypoints_visible'])
        assert visible.tolist() == list(range(start, end))
