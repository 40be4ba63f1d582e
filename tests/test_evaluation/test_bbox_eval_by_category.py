# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Box mAP evaluated one category at a time equals one stock pycocotools run, bit for bit."""
import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from deepmark_mm.evaluation import DeepFashion2Metric
from deepmark_mm.evaluation.functional import build_coco_ground_truth


def stock_bbox_stats(gt_dataset: dict, results_file: str, img_ids) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dataset
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results_file), 'bbox')
        evaluator.params.imgIds = list(img_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize('seed', [0, 3])
def test_per_category_box_map_equals_one_stock_run(helpers, tmp_path, seed):
    samples = helpers.generated_samples(seed)
    gt_dataset = build_coco_ground_truth(
        [dict(img_id=s['img_id'], height=s['ori_shape'][0], width=s['ori_shape'][1],
              anns=s['instances']) for s in samples])
    ours = helpers.evaluate(DeepFashion2Metric(outfile_prefix=str(tmp_path / 'res')), samples)
    stock = stock_bbox_stats(gt_dataset, str(tmp_path / 'res.bbox.json'),
                             [s['img_id'] for s in samples])
    assert 0 < ours['bbox_mAP'] < 1
    for name, index in dict(bbox_mAP=0, bbox_mAP_50=1, bbox_mAP_75=2, bbox_mAP_m=4,
                            bbox_mAP_l=5).items():
        assert ours[name] == stock[index] or (np.isnan(ours[name]) and stock[index] == -1), name
