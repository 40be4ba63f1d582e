# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_metric_scale.py on a tiny generated validation split."""
import math


def test_measure_reports_time_memory_and_the_eleven_numbers(tmp_path, load_tool):
    dataset_tool = load_tool('tools/analysis_tools/benchmark_dataset_scale.py')
    tool = load_tool('tools/analysis_tools/benchmark_metric_scale.py')
    ann_file = str(tmp_path / 'val.json')
    dataset_tool.write_coco(ann_file, 'validation', num_images=40, num_items=70)
    run = tool.measure(ann_file, 'pycocotools', 'validation', 40, 70, dets=12)
    assert run['images'] == 40 and run['detections'] == 480 and run['peak_rss_gb'] > 0
    assert run['evaluate_s'] >= 0 and run['process_s'] >= 0
    assert len(run['results']) == 11
    assert 0 < run['results']['bbox_mAP'] < 1 and 0 < run['results']['kpt_mAP'] < 1
    assert not math.isnan(run['results']['kpt_vis_mAP'])
