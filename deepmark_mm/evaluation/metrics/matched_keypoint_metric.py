# Copyright (c) deepmark_mm contributors. All rights reserved.
"""mmpose's PCK / AUC / EPE metrics on the landmarks of detections matched to ground truth."""
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.registry import DefaultScope
from mmpose.registry import METRICS as POSE_METRICS

from mmdet.evaluation.functional import bbox_overlaps
from mmdet.registry import METRICS
from .deepfashion2_coco import to_numpy

#: mmpose's top-down FLD evaluation (``configs/fashion_2d_keypoint/.../deepfashion_*.py``).
POSE_METRICS_CFG = (dict(type='PCKAccuracy', thr=0.2), dict(type='AUC'), dict(type='EPE'))


@METRICS.register_module()
class MatchedKeypointMetric(BaseMetric):
    """mmpose's ``PCK`` (@0.2 by box), ``AUC`` and ``EPE`` on detections matched to ground truth.

    Per image, detections (by descending score) take the unmatched, non-ignored ground truth of
    their label with the highest box IoU if it is >= ``iou_thr``; each pair is one top-down mmpose
    sample. ``matched`` = matched / non-ignored ground truth. Inputs: ``pred_instances`` and the
    dataset's raw ``instances``, original pixels.

    Args:
        iou_thr (float): Least box IoU of a match. Defaults to 0.5.
        collect_device (str): ``'cpu'`` or ``'gpu'``, to collect results across ranks.
        prefix (str, optional): Key prefix; None: ``'matched'``.
    """

    default_prefix: Optional[str] = 'matched'

    def __init__(self,
                 iou_thr: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thr = iou_thr
        # build in mmpose's scope: under the runner's 'mmdet' scope the mmpose names are unknown
        with DefaultScope.overwrite_default_scope('mmpose'):
            self.pose_metrics: List[BaseMetric] = [
                POSE_METRICS.build({'prefix': self.prefix, **cfg}) for cfg in POSE_METRICS_CFG]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Match each image's detections; one record per image."""
        for sample in data_samples:
            if 'instances' not in sample:
                raise ValueError(f'{type(self).__name__}: data sample of image '
                                 f'{sample.get("img_id")} has no "instances" (ground truth)')
            gts = [inst for inst in sample['instances'] if not inst.get('ignore_flag', 0)]
            pred = sample['pred_instances']
            boxes = to_numpy(pred['bboxes'], np.float64).reshape(-1, 4)
            scores = to_numpy(pred['scores'], np.float64).reshape(-1)
            labels = to_numpy(pred['labels'], np.int64).reshape(-1)
            keypoints = to_numpy(pred['keypoints'], np.float64)
            pairs = []
            if len(gts) and len(boxes):
                gt_boxes = np.array([to_numpy(gt['bbox'], np.float64) for gt in gts])
                gt_labels = np.array([int(gt['bbox_label']) for gt in gts])
                ious = bbox_overlaps(boxes, gt_boxes)  # (N, M)
                taken = np.zeros(len(gts), dtype=bool)
                for det in np.argsort(-scores, kind='mergesort'):
                    candidates = np.where(~taken & (gt_labels == labels[det]), ious[det], -1.0)
                    best = int(np.argmax(candidates))
                    if candidates[best] >= self.iou_thr:
                        taken[best] = True
                        pairs.append(self._pose_sample(keypoints[det], gts[best]))
            self.results.append(dict(num_gt=len(gts), pairs=pairs))

    @staticmethod
    def _pose_sample(keypoints: np.ndarray, gt: dict) -> Dict[str, dict]:
        """A detection's (K, 2) landmarks and its matched raw ground truth as an mmpose sample."""
        gt_keypoints = to_numpy(gt['keypoints'], np.float64).reshape(1, -1, 2)
        if gt_keypoints.shape[1:] != keypoints.shape:
            raise ValueError(f'predicted keypoints {keypoints.shape} do not fit the ground '
                             f'truth keypoints {gt_keypoints.shape[1:]}')
        visible = to_numpy(gt['keypoints_visible'], np.float64).reshape(1, -1) > 0
        return dict(
            pred_instances=dict(keypoints=keypoints[None].copy()),
            gt_instances=dict(keypoints=gt_keypoints, keypoints_visible=visible,
                              bboxes=to_numpy(gt['bbox'], np.float64).reshape(1, 4)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """PCK, AUC, EPE over all matched pairs (NaN when none) and ``matched``."""
        num_gt = sum(result['num_gt'] for result in results)
        pairs = [pair for result in results for pair in result['pairs']]
        if not pairs:
            warnings.warn(f'{type(self).__name__}: no detection matched any of the {num_gt} '
                          'ground truth garments; the landmark metrics are NaN')
            nan = float('nan')
            return dict(PCK=nan, AUC=nan, EPE=nan, matched=0.0 if num_gt else nan)
        metrics: Dict[str, float] = {}
        for metric in self.pose_metrics:
            try:
                metric.process({}, pairs)
                values = metric.compute_metrics(metric.results)
            finally:
                metric.results.clear()
            metrics.update({key: float(value) for key, value in values.items()})
        metrics['matched'] = len(pairs) / num_gt if num_gt else float('nan')
        return metrics
