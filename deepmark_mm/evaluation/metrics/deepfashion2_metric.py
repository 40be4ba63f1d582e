# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The official DeepFashion2 box and landmark mAP, the landmark mAP in both visibility modes,
on pycocotools (data in the official layout: :mod:`.deepfashion2_coco`)."""
import contextlib
import io
import logging
import math
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger, print_log
from mmengine.structures import BaseDataElement
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmdet.registry import METRICS
from deepmark_mm.datasets.deepfashion2_dataset import read_coco_ground_truth
from deepmark_mm.datasets.keypoint_coco_dataset import load_json_file
from deepmark_mm.datasets.keypoint_metainfo import resolve_keypoint_metainfo
from .deepfashion2_coco import (bbox_entries, build_coco_ground_truth,
                                category_keypoint_annotations, category_keypoint_entries,
                                dump_json_list, keypoint_entries, own_keypoints, to_numpy,
                                top_k_per_category)

#: Detections per image and category that pycocotools' keypoint evaluation looks at (maxDets).
KEYPOINT_MAX_DETS = 20
#: Reported names -> index in ``COCOeval.stats``.
BBOX_STATS = dict(mAP=0, mAP_50=1, mAP_75=2, mAP_m=4, mAP_l=5)
KEYPOINT_STATS = dict(mAP=0, mAP_50=1, mAP_75=2)


def _quiet_coco(dataset: Dict) -> COCO:
    """pycocotools' ``COCO`` indexing an in-memory dataset, without its console output."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_evaluate(coco_gt: COCO, results: List[Dict], img_ids: Sequence, cat_id: int,
                  iou_type: str, sigmas: Optional[np.ndarray] = None) -> COCOeval:
    """pycocotools' ``evaluate`` and ``accumulate`` of one category's ``results`` on
    ``img_ids``; ``'keypoints'`` takes the OKS ``sigmas`` and ``maxDets = [20]``."""
    with contextlib.redirect_stdout(io.StringIO()):
        if results:  # loadRes writes into the entries: give it copies
            coco_dt = coco_gt.loadRes([dict(entry) for entry in results])
        else:  # loadRes takes no empty list
            coco_dt = _quiet_coco(dict(images=list(coco_gt.dataset['images']),
                                       categories=coco_gt.dataset['categories'],
                                       annotations=[]))
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        evaluator.params.imgIds, evaluator.params.catIds = list(img_ids), [cat_id]
        if iou_type == 'keypoints':
            evaluator.params.kpt_oks_sigmas, evaluator.params.maxDets = sigmas, [KEYPOINT_MAX_DETS]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator


def summarize(evaluators: Iterable[COCOeval]) -> Tuple[np.ndarray, str]:
    """pycocotools' ``summarize`` of per-category :func:`coco_evaluate` runs (increasing id),
    their arrays concatenated: one run's numbers, one category's results in memory at a time.

    Returns:
        tuple[np.ndarray, str]: ``COCOeval.stats`` (-1 -> NaN) and pycocotools' summary table.
    """
    precisions, recalls = [], []
    for evaluator in evaluators:
        precisions.append(evaluator.eval['precision'])
        recalls.append(evaluator.eval['recall'])
    evaluator.eval.update(precision=np.concatenate(precisions, axis=2),
                          recall=np.concatenate(recalls, axis=1))
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        evaluator.summarize()
    return np.where(evaluator.stats == -1, np.nan, evaluator.stats), table.getvalue()


@METRICS.register_module()
class DeepFashion2Metric(BaseMetric):
    """The DeepFashion2 challenge's box and landmark mAP, on pycocotools.

    Landmarks: COCO keypoint evaluation with the landmark set's (``dataset_meta``; None:
    DeepFashion2's) OKS sigmas, ``maxDets = 20``, area ``w * h``, per category on its own slots,
    as ``kpt_*`` (visible + occluded) and ``kpt_vis_*`` (visible only). Predictions:
    ``pred_instances`` (``bboxes``, ``scores``, ``labels``, ``keypoints`` (N, K, 2)) in original
    pixels; ground truth: ``ann_file`` or else each sample's ``instances``. Bad predictions,
    unknown or repeated images raise a ``ValueError``; an mAP without ground truth is NaN.

    Args:
        ann_file (str, optional): COCO-layout annotation file. Defaults to None.
        metric (str | Sequence[str]): ``'bbox'`` and/or ``'keypoints'``. Defaults to both.
        format_only (bool): Only write the result files and return ``{}``. Defaults to False.
        outfile_prefix (str, optional): ``'a/b/prefix'`` -> ``a/b/prefix.bbox.json`` and
            ``a/b/prefix.keypoints.json`` (official format); required with ``format_only``.
        skip_invalid (bool): Leave invalid ground truth out (one warning) instead of raising, as
            the evaluated dataset's ``skip_invalid``. Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for collecting results across ranks.
        prefix (str, optional): Metric name prefix; defaults to ``'deepfashion2'``.
    """
    default_prefix: Optional[str] = 'deepfashion2'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, Sequence[str]] = ('bbox', 'keypoints'),
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 skip_invalid: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metrics = [metric] if isinstance(metric, str) else list(metric)
        if not self.metrics or not set(self.metrics) <= {'bbox', 'keypoints'}:
            raise KeyError(f"metric must be a non-empty subset of ('bbox', 'keypoints'), "
                           f'got {metric!r}')
        if format_only and outfile_prefix is None:
            raise ValueError('format_only=True needs outfile_prefix: it is where the result '
                             'files are written')
        self.format_only, self.outfile_prefix = format_only, outfile_prefix
        self.ann_file, self.skip_invalid = ann_file, skip_invalid
        self._gt_file, self._coco_gt, self._gt_keypoint_set = None, None, None
        if ann_file is not None:
            with get_local_path(ann_file) as local_path:
                self._gt_file = load_json_file(local_path)
            if isinstance(self._gt_file, dict):  # image lists (test split): no annotations
                self._gt_file.setdefault('annotations', [])
        self.dataset_meta = None

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        """Set the metainfo; check ``ann_file`` (categories, annotations) against it."""
        self._dataset_meta = dataset_meta
        meta = self.keypoint_meta = resolve_keypoint_metainfo(
            dataset_meta, f'{type(self).__name__} dataset_meta')
        classes = meta['classes']
        landmark_set = (tuple(classes), tuple(map(tuple, meta['keypoint_slices'])))
        if self._gt_file is None or landmark_set == self._gt_keypoint_set:
            return
        self._coco_gt = _quiet_coco(read_coco_ground_truth(
            self._gt_file, self.ann_file, self.skip_invalid, meta['keypoint_slices'], classes))
        categories = self._coco_gt.dataset['categories']
        ids = sorted(int(cat['id']) for cat in categories)
        if not ids or len(set(ids)) != len(ids) or not 1 <= ids[0] <= ids[-1] <= len(classes):
            raise ValueError(f'{self.ann_file}: category ids {ids} are not distinct ids in the '
                             f'expected 1..{len(classes)}')
        wrong = [(cat['id'], cat.get('name'), classes[int(cat['id']) - 1]) for cat in categories
                 if cat.get('name') != classes[int(cat['id']) - 1]]
        if wrong:
            raise ValueError(f'{self.ann_file}: category names differ from the expected ones '
                             f'(id, found, expected): {wrong}')
        self._gt_keypoint_set = landmark_set

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Check and keep each image's predictions (and its ground truth without ``ann_file``)."""
        for data_sample in data_samples:
            if isinstance(data_sample, BaseDataElement):
                data_sample = data_sample.to_dict()
            if 'img_id' not in data_sample:
                raise ValueError(f'data sample {data_sample.get("img_path")!r} has no img_id')
            img_id = data_sample['img_id']
            height, width = data_sample['ori_shape'][:2]
            gt = dict(img_id=img_id, width=width, height=height)
            if self._coco_gt is None and not self.format_only:
                if 'instances' not in data_sample:
                    raise ValueError(f'image {img_id}: no ann_file was given and the data sample '
                                     'has no "instances" to build the ground truth from')
                gt['anns'] = data_sample['instances']
            self.results.append((gt, self._parse_predictions(img_id,
                                                             data_sample.get('pred_instances'))))

    def _parse_predictions(self, img_id, pred) -> Dict[str, np.ndarray]:
        """Check one image's ``pred_instances``; keep boxes and the top-20 own-slot landmarks."""
        if pred is None:
            raise ValueError(f'image {img_id}: data sample has no pred_instances')
        if isinstance(pred, BaseDataElement):
            pred = pred.to_dict()
        with_keypoints = 'keypoints' in self.metrics
        missing = [key for key in ('bboxes', 'scores', 'labels') + ('keypoints', ) * with_keypoints
                   if key not in pred]
        if missing:
            raise ValueError(f'image {img_id}: pred_instances lacks {missing} (has {sorted(pred)})')
        kept = dict(bboxes=to_numpy(pred['bboxes'], np.float32).reshape(-1, 4),
                    scores=to_numpy(pred['scores'], np.float32).reshape(-1),
                    labels=to_numpy(pred['labels'], np.int64).reshape(-1))
        labels, num_classes = kept['labels'], len(self.keypoint_meta['classes'])
        if not len(kept['bboxes']) == len(kept['scores']) == len(labels):
            raise ValueError(f'image {img_id}: {len(kept["bboxes"])} boxes, '
                             f'{len(kept["scores"])} scores and {len(labels)} labels')
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f'image {img_id}: labels {np.unique(labels).tolist()} outside '
                             f'0..{num_classes - 1}')
        checked = dict(bboxes=kept['bboxes'], scores=kept['scores'])
        if with_keypoints:
            keypoints = to_numpy(pred['keypoints'], np.float32)
            expected = (len(labels), self.keypoint_meta['num_keypoints'], 2)
            if keypoints.shape != expected:
                raise ValueError(f'image {img_id}: pred_instances.keypoints has shape '
                                 f'{keypoints.shape}, expected {expected}')
            checked['keypoints'] = own_keypoints(keypoints, labels,
                                                 self.keypoint_meta['keypoint_slices'])
            kept['top'] = top_k_per_category(kept['scores'], labels, KEYPOINT_MAX_DETS)
            kept['own_keypoints'] = checked['keypoints'][kept['top']]
        for name, array in checked.items():
            bad = ~np.isfinite(array).all(axis=tuple(range(1, array.ndim)))
            if bad.any():
                raise ValueError(f'image {img_id}: pred_instances.{name} holds NaN/inf (detection '
                                 f'{int(np.flatnonzero(bad)[0])} of {len(array)})')
        kept['img_ids'] = np.full(len(labels), img_id)
        return kept

    def compute_metrics(self, results: List[Tuple[Dict, Dict]]) -> Dict[str, float]:
        """Write result files if asked, then evaluate: ``bbox_*`` (BBOX_STATS), ``kpt_*`` and
        ``kpt_vis_*`` (KEYPOINT_STATS) of the chosen ``metric``; ``{}`` with ``format_only``."""
        logger: MMLogger = MMLogger.get_current_instance()
        img_ids = [gt['img_id'] for gt, _ in results]
        if len(set(img_ids)) != len(img_ids):
            repeated = sorted({i for i in img_ids if img_ids.count(i) > 1}, key=str)[:10]
            raise ValueError(f'images {repeated} were evaluated more than once; image ids must be '
                             'unique')
        meta = self.keypoint_meta
        per_image = [pred for _, pred in results] or [self._parse_predictions(None, dict(
            bboxes=np.zeros((0, 4)), scores=[], labels=[],
            keypoints=np.zeros((0, meta['num_keypoints'], 2))))]  # no image: NaN everywhere
        preds = {key: np.concatenate([pred[key] for pred in per_image])
                 for key in per_image[0] if key != 'top'}
        if self.outfile_prefix is not None:
            print_log(f'results written to {self.dump_results(results)}', logger=logger)
        if self.format_only:
            return {}
        if self._coco_gt is None:
            coco_gt = _quiet_coco(build_coco_ground_truth([gt for gt, _ in results],
                                                          meta['classes'],
                                                          meta['keypoint_slices']))
        else:
            coco_gt = self._coco_gt
            unknown = [i for i in img_ids if i not in coco_gt.imgs]
            if unknown:
                raise ValueError(f'{len(unknown)} predicted images are not in {self.ann_file}, '
                                 f'e.g. image ids {unknown[:10]}')

        cat_ids = sorted(coco_gt.getCatIds())
        eval_results: Dict[str, float] = {}
        if 'bbox' in self.metrics:
            keys, labels = ('img_ids', 'bboxes', 'scores', 'labels'), preds['labels']
            stats, table = summarize(coco_evaluate(
                coco_gt, bbox_entries(*(preds[key][labels == cat_id - 1] for key in keys)),
                img_ids, cat_id, 'bbox') for cat_id in cat_ids)
            print_log('DeepFashion2 box evaluation:\n' + table, logger=logger)
            eval_results.update({f'bbox_{name}': float(stats[i]) for name, i in BBOX_STATS.items()})
        if 'keypoints' in self.metrics:
            top = {key: np.concatenate([pred[key][pred['top']] for pred in per_image])
                   for key in ('img_ids', 'scores', 'labels')}
            sigmas = np.asarray(meta['sigmas'], dtype=np.float64)
            for kind, visible_only in (('kpt', False), ('kpt_vis', True)):
                stats, table = summarize(self._keypoint_evaluation(
                    coco_gt, cat_id, top, preds['own_keypoints'], sigmas, img_ids, visible_only)
                    for cat_id in cat_ids)
                title = 'visible only' if visible_only else 'visible + occluded'
                print_log(f'DeepFashion2 landmark evaluation ({title} landmarks):\n' + table,
                          logger=logger)
                eval_results.update(
                    {f'{kind}_{name}': float(stats[i]) for name, i in KEYPOINT_STATS.items()})
        undefined = [name for name, value in eval_results.items() if math.isnan(value)]
        if undefined:
            print_log(f'{undefined} are NaN: no ground truth to score them on the '
                      f'{len(img_ids)} evaluated images', logger=logger, level=logging.WARNING)
        return eval_results

    def _keypoint_evaluation(self, coco_gt: COCO, cat_id: int, top: Dict[str, np.ndarray],
                             own: np.ndarray, sigmas: np.ndarray, img_ids: Sequence,
                             visible_only: bool) -> COCOeval:
        """One category's keypoint evaluation on its own slots and their sigmas."""
        slices, label = self.keypoint_meta['keypoint_slices'], cat_id - 1
        start, end = slices[label]
        annotations = category_keypoint_annotations(
            coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=img_ids, catIds=[cat_id])), label,
            visible_only, slices)
        gt = _quiet_coco(dict(images=coco_gt.dataset['images'], annotations=annotations,
                              categories=[coco_gt.cats[cat_id]]))
        mine = top['labels'] == label
        results = category_keypoint_entries(top['img_ids'][mine], top['scores'][mine], label,
                                            own[mine], slices)
        return coco_evaluate(gt, results, img_ids, cat_id, 'keypoints', sigmas[start:end])

    def dump_results(self, results: List[Tuple[Dict, Dict]]) -> Dict[str, str]:
        """The official result files at ``outfile_prefix``; ``{'bbox' / 'keypoints': path}``."""
        os.makedirs(osp.dirname(osp.abspath(self.outfile_prefix)), exist_ok=True)
        files = dict(bbox=f'{self.outfile_prefix}.bbox.json')
        dump_json_list((entry for _, pred in results for entry in bbox_entries(
            pred['img_ids'], pred['bboxes'], pred['scores'], pred['labels'])), files['bbox'])
        if 'keypoints' in self.metrics:
            files['keypoints'] = f'{self.outfile_prefix}.keypoints.json'
            dump_json_list((entry for _, pred in results for entry in keypoint_entries(
                pred['img_ids'][pred['top']], pred['scores'][pred['top']],
                pred['labels'][pred['top']], pred['own_keypoints'],
                self.keypoint_meta['keypoint_slices'])), files['keypoints'])
        return files
