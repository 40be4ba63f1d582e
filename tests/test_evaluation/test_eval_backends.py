# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2Metric(eval_backend='faster_coco_eval') gives pycocotools' numbers exactly."""
import numpy as np
import pytest

from deepmark_mm.evaluation import DeepFashion2Metric

pytest.importorskip('faster_coco_eval')

#: faster-coco-eval accumulates precision in C++; the mean over it can differ from pycocotools'
#: in the last bits of a float64 (seen: up to 2.2e-16 on the data below), so the default
#: stays pycocotools.
TOLERANCE = 1e-12
ELEVEN = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_m', 'bbox_mAP_l', 'kpt_mAP',
          'kpt_mAP_50', 'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')


def both_backends(helpers, make_samples, **kwargs):
    results = [helpers.evaluate(DeepFashion2Metric(eval_backend=backend, **kwargs), make_samples())
               for backend in ('pycocotools', 'faster_coco_eval')]
    assert set(ELEVEN) <= set(results[0]) and list(results[0]) == list(results[1])
    return results


def assert_same_numbers(pyco: dict, faster: dict) -> None:
    """Equal up to float rounding (see TOLERANCE); NaN (no ground truth) on both sides alike."""
    for key, value in pyco.items():
        if np.isnan(value):
            assert np.isnan(faster[key]), key
        else:
            assert abs(faster[key] - value) <= TOLERANCE, (key, value, faster[key])
    print({k: float(faster[k] - v) for k, v in pyco.items() if not np.isnan(v) and faster[k] != v})


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_generated_data_all_eleven_numbers_equal(helpers, seed):
    pyco, faster = both_backends(helpers, lambda: helpers.generated_samples(seed), classwise=True)
    assert 0 < pyco['bbox_mAP'] < 1 and 0 < pyco['kpt_mAP'] < 1  # not a trivial case
    assert_same_numbers(pyco, faster)


def test_real_samples_all_eleven_numbers_equal(helpers, demo_gt_predictions, demo_samples):
    def samples():
        predictions = demo_gt_predictions(noise_px=6.0, seed=5)
        rng = np.random.default_rng(5)
        for pred in predictions.values():  # add confused-label and shifted duplicates
            n = len(pred['labels'])
            pred['bboxes'] = np.concatenate([pred['bboxes'], pred['bboxes'] + 7.0])
            pred['scores'] = np.concatenate([pred['scores'], rng.uniform(0.1, 0.6, n)])
            pred['labels'] = np.concatenate([pred['labels'], rng.integers(0, 13, n)])
            pred['keypoints'] = np.concatenate([pred['keypoints'], pred['keypoints'] + 5.0])
        return demo_samples(predictions)

    pyco, faster = both_backends(helpers, samples, ann_file=str(helpers.DEMO_ANN_FILE),
                                 classwise=True)
    assert 0 < pyco['kpt_mAP'] < 1
    assert_same_numbers(pyco, faster)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match='backend must be one of'):
        DeepFashion2Metric(eval_backend='cocoapi')
