# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_metric_scale.py on a tiny generated validation split."""
import math

import pytest


def test_both_backends_measure_the_same_numbers(tmp_path, load_tool):
    pytest.importorskip('faster_coco_eval')
    dataset_tool = load_tool('tools/analysis_tools/benchmark_dataset_scale.py')
    tool = load_tool('tools/analysis_tools/benchmark_metric_scale.py')
    ann_file = str(tmp_path / 'val.json')
    dataset_tool.write_coco(ann_file, 'validation', num_images=40, num_items=70)
    runs = [tool.measure(ann_file, backend, 'validation', 40, 70, dets=12)
            for backend in ('pycocotools', 'faster_coco_eval')]
    for run in runs:
        assert run['images'] == 40 and run['detections'] == 480 and run['peak_rss_gb'] > 0
        assert len(run['results']) == 11
    assert 0 < runs[0]['results']['bbox_mAP'] < 1
    for key, value in runs[0]['results'].items():
        other = runs[1]['results'][key]
        assert (math.isnan(value) and math.isnan(other)) or abs(value - other) <= 1e-12, key
