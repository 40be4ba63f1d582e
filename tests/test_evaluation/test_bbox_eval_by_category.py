# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Box mAP evaluated one category at a time equals one stock pycocotools run, bit for bit."""
import numpy as np
import pytest

from deepmark_mm.evaluation import DeepFashion2Metric
from deepmark_mm.evaluation.metrics.deepfashion2_coco import build_coco_ground_truth


@pytest.mark.parametrize('seed', [0, 3])
def test_per_category_box_map_equals_one_stock_run(helpers, tmp_path, seed):
    samples = helpers.generated_samples(seed)
    gt_dataset = build_coco_ground_truth(
        [dict(img_id=s['img_id'], height=s['ori_shape'][0], width=s['ori_shape'][1],
              anns=s['instances']) for s in samples])
    ours = helpers.evaluate(DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res')), samples)
    stock = helpers.stock_coco_stats(gt_dataset, str(tmp_path / 'res.bbox.json'),
                                     [s['img_id'] for s in samples], 'bbox')
    assert 0 < ours['bbox_mAP'] < 1
    for name, index in dict(bbox_mAP=0, bbox_mAP_50=1, bbox_mAP_75=2, bbox_mAP_m=4,
                            bbox_mAP_l=5).items():
        assert ours[name] == stock[index] or (np.isnan(ours[name]) and stock[index] == -1), name
