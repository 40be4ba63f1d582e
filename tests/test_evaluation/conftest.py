# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Fixtures of the evaluation tests: DeepFashion2 samples, contract-shaped instances and samples."""
import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional

import numpy as np
import pytest
import torch

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS, OKS_SIGMAS

SAMPLES_DIR = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'deepfashion2-samples'
DEMO_ANN_FILE = SAMPLES_DIR / 'kgdet_demo_dataset' / 'demo_dataset-32.json'
#: COCO thresholds (IoU and OKS) of the mAP.
THRESHOLDS = np.linspace(.5, .95, 10)


def annotation_to_instance(ann: Dict) -> Dict:
    """A COCO annotation as the dataset's raw instance (docs/architecture.md), original pixels."""
    x, y, w, h = ann['bbox']
    keypoints = np.asarray(ann['keypoints'], dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    return dict(
        bbox=[float(x), float(y), float(x + w), float(y + h)],
        bbox_label=ann['category_id'] - 1,
        ignore_flag=0,
        keypoints=keypoints[:, :2].tolist(),
        keypoints_visible=keypoints[:, 2].astype(int).tolist(),
        area=float(w * h),
        id=ann['id'])


def make_prediction(bboxes, scores, labels, keypoints) -> Dict:
    """``pred_instances`` as the head returns it (torch tensors)."""
    return dict(
        bboxes=torch.as_tensor(np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)),
        scores=torch.as_tensor(np.asarray(scores, dtype=np.float32).reshape(-1)),
        labels=torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1)),
        keypoints=torch.as_tensor(
            np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 2)),
        keypoint_scores=torch.ones(len(np.asarray(labels).reshape(-1)), NUM_KEYPOINTS))


def make_sample(img_id: int,
                height: int,
                width: int,
                pred: Dict,
                instances: Optional[List[Dict]] = None) -> Dict:
    """A data sample as mmengine's Evaluator hands it to ``process`` (``to_dict`` output)."""
    sample = dict(img_id=img_id, ori_shape=(height, width), pred_instances=pred)
    if instances is not None:
        sample['instances'] = instances
    return sample


def evaluate(metric, samples: List[Dict]) -> Dict[str, float]:
    """process + evaluate, keys without the prefix."""
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    return {key.split('/', 1)[1]: value for key, value in results.items()}


def generated_samples(seed: int, num_images: int = 12, false_per_image: int = 6):
    """Random garments (every category, visibilities 0/1/2), jittered true detections plus random
    false ones of random labels; scores on a 0.05 grid, so that there are ties."""
    rng = np.random.default_rng(seed)
    samples = []
    for img_id in range(1, num_images + 1):
        height, width = 480, 400
        instances, boxes, labels, keypoints = [], [], [], []
        for _ in range(rng.integers(1, 4)):
            label = int(rng.integers(0, 13))
            start, end = KEYPOINT_SLICES[label]
            x1, y1 = rng.uniform(0, 200, 2)
            w, h = rng.uniform(8, 200, 2)  # small, medium and large boxes
            points = np.zeros((NUM_KEYPOINTS, 2))
            points[start:end] = np.stack([rng.uniform(x1, x1 + w, end - start),
                                          rng.uniform(y1, y1 + h, end - start)], 1)
            visible = np.zeros(NUM_KEYPOINTS, dtype=int)
            visible[start:end] = rng.choice([0, 1, 2], end - start, p=[0.2, 0.3, 0.5])
            points[visible == 0] = 0
            instances.append(dict(bbox=[x1, y1, x1 + w, y1 + h], bbox_label=label, ignore_flag=0,
                                  keypoints=points.tolist(), keypoints_visible=visible.tolist(),
                                  area=w * h))
            boxes.append(np.array([x1, y1, x1 + w, y1 + h]) + rng.normal(0, 0.05 * w, 4))
            labels.append(label)
            keypoints.append(points + rng.normal(0, 0.04 * w, points.shape))
        for _ in range(false_per_image):
            x1, y1 = rng.uniform(0, 250, 2)
            boxes.append(np.array([x1, y1, x1 + rng.uniform(5, 150), y1 + rng.uniform(5, 150)]))
            labels.append(int(rng.integers(0, 13)))
            keypoints.append(rng.uniform(0, 400, (NUM_KEYPOINTS, 2)))
        scores = np.round(rng.uniform(0.05, 1.0, len(boxes)) * 20) / 20
        samples.append(make_sample(
            img_id, height, width,
            make_prediction(np.array(boxes), scores, labels, np.array(keypoints)),
            instances))
    return samples


def stock_coco_stats(gt_dataset: Dict, results_file: str, img_ids, iou_type: str) -> np.ndarray:
    """Stock pycocotools on a written result file (official DeepFashion2 sigmas for keypoints).

    ``img_ids=None`` evaluates every image of ``gt_dataset``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dataset
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results_file), iou_type)
        if iou_type == 'keypoints':
            evaluator.params.kpt_oks_sigmas = np.asarray(OKS_SIGMAS)
        if img_ids is not None:
            evaluator.params.imgIds = list(img_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.fixture(scope='session')
def helpers() -> SimpleNamespace:
    """The helper functions and constants above, for the test modules."""
    return SimpleNamespace(
        THRESHOLDS=THRESHOLDS,
        SAMPLES_DIR=SAMPLES_DIR,
        DEMO_ANN_FILE=DEMO_ANN_FILE,
        annotation_to_instance=annotation_to_instance,
        make_prediction=make_prediction,
        make_sample=make_sample,
        evaluate=evaluate,
        generated_samples=generated_samples,
        stock_coco_stats=stock_coco_stats)


@pytest.fixture(scope='session')
def demo_coco() -> Dict:
    """The 32-image DeepFashion2 sample ground truth (COCO layout); skips when absent."""
    if not DEMO_ANN_FILE.is_file():
        pytest.skip(f'{DEMO_ANN_FILE} is absent')
    with open(DEMO_ANN_FILE) as file:
        return json.load(file)


@pytest.fixture(scope='session')
def demo_gt_predictions(demo_coco) -> Callable:
    """``(noise_px, seed, label_map) -> {img_id: prediction arrays}``: the ground truth fed back.

    Slots the ground truth does not label are predicted at the box centre (a model predicts every
    slot of its category); landmarks get ``noise_px * z`` with the same standard normal ``z`` for
    every ``noise_px`` (so the error grows monotonically with ``noise_px``); scores are seeded
    uniform in [0.5, 1).
    """
    anns_of_image: Dict[int, List[Dict]] = {img['id']: [] for img in demo_coco['images']}
    for ann in demo_coco['annotations']:
        anns_of_image[ann['image_id']].append(ann)

    def predictions(noise_px: float = 0.0,
                    seed: int = 0,
                    label_map: Optional[Dict[int, int]] = None) -> Dict[int, Dict]:
        rng = np.random.default_rng(seed)
        out = {}
        for img_id in sorted(anns_of_image):
            anns = anns_of_image[img_id]
            instances = [annotation_to_instance(ann) for ann in anns]
            keypoints = np.array([inst['keypoints']
                                  for inst in instances]).reshape(-1, NUM_KEYPOINTS, 2)
            # like a model, predict every slot of the category: unlabelled ones at the box centre
            boxes = np.array([inst['bbox'] for inst in instances]).reshape(-1, 4)
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            visible = np.array([inst['keypoints_visible']
                                for inst in instances]).reshape(-1, NUM_KEYPOINTS)
            keypoints = np.where(visible[..., None] > 0, keypoints, centres[:, None])
            noise = rng.standard_normal(keypoints.shape)
            labels = np.array([inst['bbox_label'] for inst in instances], dtype=np.int64)
            if label_map is not None:
                labels = np.array([label_map[int(label)] for label in labels], dtype=np.int64)
            out[img_id] = dict(
                bboxes=boxes,
                scores=rng.uniform(0.5, 1.0, len(instances)),
                labels=labels,
                keypoints=keypoints + noise_px * noise,
                visible=visible)
        return out

    return predictions


@pytest.fixture(scope='session')
def demo_samples(demo_coco) -> Callable:
    """``(predictions, with_instances) -> data samples`` over the demo images."""
    images = {img['id']: img for img in demo_coco['images']}
    instances_of_image: Dict[int, List[Dict]] = {img_id: [] for img_id in images}
    for ann in demo_coco['annotations']:
        instances_of_image[ann['image_id']].append(annotation_to_instance(ann))

    def samples(predictions: Dict[int, Dict], with_instances: bool = True) -> List[Dict]:
        return [
            make_sample(
                img_id, images[img_id]['height'], images[img_id]['width'],
                make_prediction(pred['bboxes'], pred['scores'], pred['labels'], pred['keypoints']),
                instances_of_image[img_id] if with_instances else None)
            for img_id, pred in predictions.items()
        ]

    return samples
