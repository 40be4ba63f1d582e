# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The official DeepFashion2 box and landmark mAP, the landmark mAP in both visibility modes.

The landmark set (classes, slot slices, OKS sigmas) is the metric's ``dataset_meta``, which the
runner sets from the dataset's metainfo; DeepFashion2's when none is set.
"""
import logging
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger, print_log
from mmengine.structures import BaseDataElement
from pycocotools.coco import COCO

from mmdet.registry import METRICS
from deepmark_mm.datasets.deepfashion2_dataset import load_coco_json, read_coco_ground_truth
from deepmark_mm.datasets.landmark_metainfo import resolve_landmark_metainfo
from ..functional import (BBOX_STAT_INDEX, KEYPOINT_STAT_INDEX, bbox_results,
                          build_coco_ground_truth, category_keypoint_results,
                          category_landmark_annotations, check_backend, check_category_ids,
                          check_finite_predictions, coco_from_dataset, dump_json_list,
                          gather_own_keypoints, keypoint_results, per_category_ap,
                          run_bbox_eval_by_category, run_keypoint_eval_by_category, summary_stats,
                          top_k_per_category)

#: Detections per image and category that pycocotools' keypoint evaluation looks at (maxDets).
KEYPOINT_MAX_DETS = 20


def _to_numpy(value, dtype) -> np.ndarray:
    """Tensor / box structure / array-like -> numpy array of ``dtype``."""
    if hasattr(value, 'tensor') and not isinstance(value, torch.Tensor):  # mmdet box structures
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().to('cpu', torch.float64 if dtype != np.int64 else torch.int64)
        return value.numpy().astype(dtype)
    return np.asarray(value, dtype=dtype)


@METRICS.register_module()
class DeepFashion2Metric(BaseMetric):
    """The DeepFashion2 challenge's box and landmark mAP.

    Boxes: COCO bbox evaluation (IoU .50:.05:.95, maxDets 1/10/100). Landmarks: COCO keypoint
    evaluation with the 294 official OKS sigmas, ``maxDets = 20``, ``useCats = 1``, OKS area = the
    ground-truth box area ``w * h``, only ground-truth slots with v > 0 compared, ground truth with
    no labelled slot ignored. The landmark mAP is reported twice, as in the DeepMark paper:
    visible + occluded slots (v in {1, 2}) and visible slots only (v = 2: occluded slots are removed
    from the ground truth and ``num_keypoints`` recounted). Matching, accumulation and summaries are
    pycocotools' ``COCOeval``.

    The landmark set is ``dataset_meta`` (``classes``, ``keypoint_slices``, ``sigmas``, checked by
    :func:`~deepmark_mm.datasets.landmark_metainfo.resolve_landmark_metainfo`); DeepFashion2's
    (13 classes, 294 slots, the official sigmas) when the metric has none. The numbers below are
    DeepFashion2's.

    Predictions (``data_sample['pred_instances']``, original image pixels): ``bboxes`` (N, 4) xyxy,
    ``scores`` (N,), ``labels`` (N,) 0..12 and, for landmarks, ``keypoints`` (N, 294, 2). A keypoint
    result uses the detection score as its score; in the result file it holds ``x, y, 1`` on the
    detection's own category slots and ``0, 0, 0`` on the others. Only the 20 best detections per
    image and category can count in the keypoint evaluation (pycocotools' maxDets), so only those
    keep their own-category landmarks between ``process`` and ``compute_metrics`` (ties broken like
    pycocotools: the numbers are unchanged, memory stays bounded on the 32k-image val set).

    The landmark evaluation runs category by category on the category's own slots with the
    matching sigmas and merges the per-category precision arrays before pycocotools' summary. For
    every ground truth with a labelled slot this is exactly the official OKS and mAP (only slots
    with v > 0 count, and they lie in the category's slice). It differs from running the official
    tool on the result file only for ignored ground truth without labelled slot (e.g. a garment
    whose landmarks are all occluded, in the visible-only mode): pycocotools' doubled-box rule that
    decides whether a detection on it is ignored then looks at the detection's own landmarks, not at
    the ``0, 0, 0`` padding (which would make it depend on whether the garment touches the image
    origin), and at the keypoint-extent area used for the medium / large ranges (logged only).

    Ground truth comes from ``ann_file`` (the official converter's COCO json) or, without it, from
    ``data_sample['instances']`` (the dataset's raw instances) with ``ori_shape`` and ``img_id``;
    both give the same numbers. Only the processed images are evaluated. ``ann_file`` is checked
    by the dataset's own functions
    (:func:`~deepmark_mm.datasets.deepfashion2_dataset.read_coco_ground_truth`): an unreadable file,
    a bad image record or annotation (box, category, keypoint count, visibility) raises
    ``DeepFashion2FormatError`` naming file, image and annotation, or with ``skip_invalid=True`` is
    left out exactly as ``DeepFashion2Dataset(skip_invalid=True)`` leaves it out.

    Edge cases: no detections at all -> every mAP is 0.0 (when there is ground truth); an mAP
    without any ground truth to score (e.g. no non-ignored landmark ground truth) is NaN and logged
    as a warning; predictions for an image the ``ann_file`` does not hold, an image evaluated twice,
    NaN/inf in boxes, scores or the detections' own landmarks, or labels outside 0..12 raise a
    ``ValueError`` naming the image.

    Args:
        ann_file (str, optional): COCO-layout DeepFashion2 annotation file. Defaults to None.
        metric (str | Sequence[str]): ``'bbox'`` and/or ``'keypoints'``.
            Defaults to ``('bbox', 'keypoints')``.
        classwise (bool): Log a per-category table (box AP, landmark AP in both modes) and add
            ``<kind>_AP_<category>`` entries to the results. Defaults to False.
        format_only (bool): Only write ``<outfile_prefix>.bbox.json`` and
            ``<outfile_prefix>.keypoints.json`` (official result format) and return ``{}``.
            Defaults to False.
        outfile_prefix (str, optional): Where result files go (``'a/b/prefix'`` ->
            ``a/b/prefix.bbox.json``); required with ``format_only``. Defaults to None.
        backend_args (dict, optional): mmengine file backend arguments for ``ann_file``.
        eval_backend (str): Matching / accumulation: ``'pycocotools'`` (default) or
            ``'faster_coco_eval'`` (the faster-coco-eval package, same numbers, see
            docs/scale_and_robustness.md). Summaries are pycocotools' in both cases.
        skip_invalid (bool): Leave invalid ground truth out (one warning) instead of raising; set
            it as the evaluated dataset's ``skip_invalid``. Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for collecting results across ranks.
        prefix (str, optional): Metric name prefix; defaults to ``'deepfashion2'``.
    """
    default_prefix: Optional[str] = 'deepfashion2'
    allowed_metrics: Tuple[str, ...] = ('bbox', 'keypoints')

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, Sequence[str]] = ('bbox', 'keypoints'),
                 classwise: bool = False,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 eval_backend: str = 'pycocotools',
                 skip_invalid: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = [m for m in self.metrics if m not in self.allowed_metrics]
        if unknown or not self.metrics:
            raise KeyError(f'metric must be a non-empty subset of {self.allowed_metrics}, '
                           f'got {metric!r}')
        self.classwise = classwise
        self.format_only = format_only
        if format_only and outfile_prefix is None:
            raise ValueError('format_only=True needs outfile_prefix: it is where the result '
                             'files are written')
        self.outfile_prefix = outfile_prefix
        self.backend_args = backend_args
        check_backend(eval_backend)
        self.eval_backend = eval_backend
        self.ann_file, self.skip_invalid = ann_file, skip_invalid
        self._gt_file, self._coco_gt, self._gt_landmark_set = None, None, None
        if ann_file is not None:
            with get_local_path(ann_file, backend_args=backend_args) as local_path:
                self._gt_file = load_coco_json(local_path, lambda annotation: annotation)
            if isinstance(self._gt_file, dict):  # image lists (test split): no annotations
                self._gt_file.setdefault('annotations', [])
        self._landmark_meta: Optional[Dict] = None
        self.dataset_meta = None

    @property
    def dataset_meta(self) -> Optional[dict]:
        """The dataset's metainfo (None: DeepFashion2's landmark set)."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        """Set the metainfo; check ``ann_file`` (categories, annotations) against it."""
        self._dataset_meta = dataset_meta
        meta = self._landmark_meta = resolve_landmark_metainfo(
            dataset_meta, f'{type(self).__name__} dataset_meta')
        landmark_set = (tuple(meta['classes']), tuple(map(tuple, meta['keypoint_slices'])))
        if self._gt_file is not None and landmark_set != self._gt_landmark_set:
            self._coco_gt = coco_from_dataset(
                read_coco_ground_truth(self._gt_file, self.ann_file, self.skip_invalid,
                                       meta['keypoint_slices'], meta['classes']))
            check_category_ids(self._coco_gt.dataset['categories'], self.ann_file,
                               meta['classes'])
            self._gt_landmark_set = landmark_set

    @property
    def landmark_meta(self) -> Dict:
        """The checked landmark metainfo: ``classes``, ``keypoint_slices``, ``sigmas``, ..."""
        return self._landmark_meta

    @property
    def with_keypoints(self) -> bool:
        """Whether landmarks are evaluated."""
        return 'keypoints' in self.metrics

    # ------------------------------------------------------------------ process
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep each image's predictions (and its ground truth without ``ann_file``).

        Args:
            data_batch (dict): The data batch (unused).
            data_samples (Sequence[dict]): Data samples (dicts or ``DetDataSample``) with
                ``img_id``, ``ori_shape``, ``pred_instances`` and, without ``ann_file``,
                ``instances``.
        """
        for data_sample in data_samples:
            if isinstance(data_sample, BaseDataElement):
                data_sample = data_sample.to_dict()
            if 'img_id' not in data_sample:
                raise ValueError(f'data sample without img_id (keys: {sorted(data_sample)})')
            img_id = data_sample['img_id']
            result = self._parse_predictions(img_id, data_sample.get('pred_instances'))
            height, width = data_sample['ori_shape'][:2]
            gt = dict(img_id=img_id, width=width, height=height)
            # format_only writes results without ground truth (e.g. for the test server)
            if self._coco_gt is None and not self.format_only:
                if 'instances' not in data_sample:
                    raise ValueError(f'image {img_id}: no ann_file was given and the data sample '
                                     'has no "instances" to build the ground truth from')
                gt['anns'] = data_sample['instances']
            self.results.append((gt, result))

    def _parse_predictions(self, img_id, pred) -> Dict:
        """Validate one image's ``pred_instances`` and keep what the evaluation needs."""
        if pred is None:
            raise ValueError(f'image {img_id}: data sample has no pred_instances')
        if isinstance(pred, BaseDataElement):
            pred = pred.to_dict()
        required = ('bboxes', 'scores', 'labels') + (('keypoints', ) if self.with_keypoints else ())
        missing = [key for key in required if key not in pred]
        if missing:
            raise ValueError(f'image {img_id}: pred_instances lacks {missing} '
                             f'(has {sorted(pred)})')
        bboxes = _to_numpy(pred['bboxes'], np.float32).reshape(-1, 4)
        scores = _to_numpy(pred['scores'], np.float32).reshape(-1)
        labels = _to_numpy(pred['labels'], np.int64).reshape(-1)
        if not len(bboxes) == len(scores) == len(labels):
            raise ValueError(f'image {img_id}: {len(bboxes)} boxes, {len(scores)} scores and '
                             f'{len(labels)} labels')
        num_classes = len(self.landmark_meta['classes'])
        num_keypoints = self.landmark_meta['num_keypoints']
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f'image {img_id}: labels {np.unique(labels).tolist()} outside '
                             f'0..{num_classes - 1}')
        check_finite_predictions(img_id, bboxes=bboxes, scores=scores)
        result = dict(img_id=img_id, bboxes=bboxes, scores=scores, labels=labels)
        if self.with_keypoints:
            keypoints = _to_numpy(pred['keypoints'], np.float32)
            if keypoints.shape != (len(labels), num_keypoints, 2):
                raise ValueError(f'image {img_id}: pred_instances.keypoints has shape '
                                 f'{keypoints.shape}, expected ({len(labels)}, {num_keypoints}, 2)')
            own_keypoints = gather_own_keypoints(keypoints, labels,
                                                 self.landmark_meta['keypoint_slices'])
            check_finite_predictions(img_id, keypoints=own_keypoints)
            kept = top_k_per_category(scores, labels, KEYPOINT_MAX_DETS)
            result.update(keypoint_index=kept, own_keypoints=own_keypoints[kept])
        return result

    # ------------------------------------------------------------------ compute
    def compute_metrics(self, results: List[Tuple[Dict, Dict]]) -> Dict[str, float]:
        """Write result files if asked, then evaluate boxes and landmarks.

        Args:
            results (list[tuple[dict, dict]]): ``(ground truth, predictions)`` per image.

        Returns:
            dict[str, float]: ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``, ``bbox_mAP_m``,
            ``bbox_mAP_l``, ``kpt_mAP``, ``kpt_mAP_50``, ``kpt_mAP_75``, ``kpt_vis_mAP``,
            ``kpt_vis_mAP_50``, ``kpt_vis_mAP_75`` (those of the chosen ``metric``), plus
            per-category APs with ``classwise``; ``{}`` with ``format_only``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        gts = [gt for gt, _ in results]
        preds = [pred for _, pred in results]
        img_ids = [pred['img_id'] for pred in preds]
        if len(set(img_ids)) != len(img_ids):
            repeated = sorted({i for i in img_ids if img_ids.count(i) > 1}, key=str)[:10]
            raise ValueError(f'images {repeated} were evaluated more than once; image ids must be '
                             'unique')

        if self.outfile_prefix is not None:
            files = self.dump_results(preds, self.outfile_prefix)
            print_log(f'results written to {files}', logger=logger)
        if self.format_only:
            return {}

        if self._coco_gt is None:
            coco_gt = coco_from_dataset(
                build_coco_ground_truth(gts, self.landmark_meta['classes'],
                                        self.landmark_meta['keypoint_slices']))
        else:
            coco_gt = self._coco_gt
            unknown = [i for i in img_ids if i not in coco_gt.imgs]
            if unknown:
                raise ValueError(f'{len(unknown)} predicted images are not in {self.ann_file}, '
                                 f'e.g. image ids {unknown[:10]}')

        eval_results: Dict[str, float] = OrderedDict()
        classwise: Dict[str, Dict[int, float]] = OrderedDict()
        if 'bbox' in self.metrics:
            evaluator, table = run_bbox_eval_by_category(
                self._bbox_category_runs(coco_gt, preds), img_ids, backend=self.eval_backend)
            print_log('DeepFashion2 box evaluation:\n' + table, logger=logger)
            stats = summary_stats(evaluator, BBOX_STAT_INDEX)
            for name in ('mAP', 'mAP_50', 'mAP_75', 'mAP_m', 'mAP_l'):
                eval_results[f'bbox_{name}'] = stats[name]
            classwise['bbox'] = per_category_ap(evaluator)
        if self.with_keypoints:
            detections = self._keypoint_arrays(preds)
            for kind, visible_only, title in (('kpt', False, 'visible + occluded'),
                                              ('kpt_vis', True, 'visible only')):
                evaluator, table = run_keypoint_eval_by_category(
                    self._category_runs(coco_gt, detections, img_ids, visible_only), img_ids,
                    backend=self.eval_backend)
                print_log(
                    f'DeepFashion2 landmark evaluation ({title} landmarks):\n' + table,
                    logger=logger)
                stats = summary_stats(evaluator, KEYPOINT_STAT_INDEX)
                for name in ('mAP', 'mAP_50', 'mAP_75'):
                    eval_results[f'{kind}_{name}'] = stats[name]
                classwise[kind] = per_category_ap(evaluator)
                self._log_unlabelled_ground_truth(coco_gt, img_ids, visible_only, logger)

        undefined = [name for name, value in eval_results.items() if math.isnan(value)]
        if undefined:
            print_log(
                f'{undefined} are NaN: no ground truth to score them on the '
                f'{len(img_ids)} evaluated images',
                logger=logger,
                level=logging.WARNING)
        if self.classwise:
            print_log('\n' + self._classwise_table(classwise), logger=logger)
            for kind, aps in classwise.items():
                for cat_id, ap in aps.items():
                    eval_results[f'{kind}_AP_{self.landmark_meta["classes"][cat_id - 1]}'] = ap
        return eval_results

    def _category_runs(self, coco_gt: COCO, detections: Dict[str, np.ndarray], img_ids: Sequence,
                       visible_only: bool) -> Iterator[Tuple[int, COCO, List[Dict], np.ndarray]]:
        """One category at a time: its ground truth, detections and sigmas on its own slots.

        Only the ground truth of the evaluated images is converted.

        For ground truth with a labelled slot this is exactly the official OKS (only slots with
        v > 0 count, and they lie in the category's slice). For ground truth without one (ignored),
        pycocotools' doubled-box rule then looks at the detection's own landmarks, not at the
        0, 0, 0 padding of other categories' slots in the result file.
        """
        images, categories = coco_gt.dataset['images'], coco_gt.dataset['categories']
        sigmas = np.asarray(self.landmark_meta['sigmas'], dtype=np.float64)
        slices, classes = self.landmark_meta['keypoint_slices'], self.landmark_meta['classes']
        for cat_id in sorted(coco_gt.getCatIds()):
            label = cat_id - 1
            start, end = slices[label]
            annotations = category_landmark_annotations(
                coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=img_ids, catIds=[cat_id])), label,
                visible_only, slices, classes)
            gt = coco_from_dataset(
                dict(
                    images=images,
                    annotations=annotations,
                    categories=[cat for cat in categories if cat['id'] == cat_id]))
            mine = detections['labels'] == label
            results = category_keypoint_results(detections['img_ids'][mine],
                                                detections['scores'][mine], label,
                                                detections['own_keypoints'][mine], slices)
            yield cat_id, gt, results, sigmas[start:end]

    @staticmethod
    def _log_unlabelled_ground_truth(coco_gt: COCO, img_ids: Sequence, visible_only: bool,
                                     logger: MMLogger) -> None:
        """Say how many evaluated garments the landmark evaluation ignores for lack of labels."""
        wanted = set(img_ids)
        count = sum(
            not (np.asarray(ann['keypoints'])[2::3] == 2).any() if visible_only else
            ann['num_keypoints'] == 0
            for ann in coco_gt.dataset['annotations'] if ann['image_id'] in wanted)
        if count:
            mode = 'visible' if visible_only else 'labelled'
            print_log(
                f'{count} evaluated garments have no {mode} landmark: the landmark '
                'evaluation ignores them (detections matching them by the doubled-box rule '
                'are neither true nor false positives)',
                logger=logger)

    # ------------------------------------------------------------------ results
    @staticmethod
    def _bbox_arrays(preds: Sequence[Dict]) -> List[np.ndarray]:
        """Image ids, boxes, scores and labels of every image's detections, in image order."""
        return [np.concatenate([np.full(len(p['labels']), p['img_id']) for p in preds]
                               or [np.zeros(0, np.int64)]),
                np.concatenate([p['bboxes'] for p in preds] or [np.zeros((0, 4), np.float32)]),
                np.concatenate([p['scores'] for p in preds] or [np.zeros(0, np.float32)]),
                np.concatenate([p['labels'] for p in preds] or [np.zeros(0, np.int64)])]

    def _bbox_category_runs(self, coco_gt: COCO, preds: Sequence[Dict]) -> Iterator[Tuple]:
        """``(category_id, coco_gt, box result entries of the category)`` per category."""
        arrays = self._bbox_arrays(preds)
        for cat_id in sorted(coco_gt.getCatIds()):
            mine = arrays[3] == cat_id - 1
            yield cat_id, coco_gt, bbox_results(*(array[mine] for array in arrays))

    @staticmethod
    def _keypoint_arrays(preds: Sequence[Dict]) -> Dict[str, np.ndarray]:
        """Kept keypoint detections of every image as flat arrays, in image order."""
        kept = [p['keypoint_index'] for p in preds]
        return dict(
            img_ids=np.concatenate([np.full(len(k), p['img_id']) for k, p in zip(kept, preds)]
                                   or [np.zeros(0, np.int64)]),
            scores=np.concatenate([p['scores'][k] for k, p in zip(kept, preds)]
                                  or [np.zeros(0, np.float32)]),
            labels=np.concatenate([p['labels'][k] for k, p in zip(kept, preds)]
                                  or [np.zeros(0, np.int64)]),
            own_keypoints=np.concatenate([p['own_keypoints'] for p in preds]
                                         or [np.zeros((0, 1, 2), np.float32)]))

    def dump_results(self, preds: Sequence[Dict], outfile_prefix: str) -> Dict[str, str]:
        """Write the official result files.

        Args:
            preds (Sequence[dict]): Per-image predictions kept by :meth:`process`.
            outfile_prefix (str): ``'a/b/prefix'`` -> ``a/b/prefix.bbox.json`` and
                ``a/b/prefix.keypoints.json`` (local paths; folders are created).

        Returns:
            dict[str, str]: ``'bbox'`` / ``'keypoints'`` -> written path.
        """
        folder = osp.dirname(osp.abspath(outfile_prefix))
        os.makedirs(folder, exist_ok=True)
        files = dict(bbox=f'{outfile_prefix}.bbox.json')
        dump_json_list(bbox_results(*self._bbox_arrays(preds)), files['bbox'])
        if self.with_keypoints:
            files['keypoints'] = f'{outfile_prefix}.keypoints.json'
            dump_json_list(self._iter_keypoint_json(preds), files['keypoints'])
        return files

    def _iter_keypoint_json(self, preds: Sequence[Dict]) -> Iterator[Dict]:
        """Keypoint result entries image by image, keypoints as lists (for JSON)."""
        for pred in preds:
            kept = pred['keypoint_index']
            yield from keypoint_results(
                np.full(len(kept), pred['img_id']), pred['scores'][kept], pred['labels'][kept],
                pred['own_keypoints'], self.landmark_meta['keypoint_slices'])

    def _classwise_table(self, classwise: Dict[str, Dict[int, float]]) -> str:
        """Per-category AP table (one column per evaluation kind)."""
        titles = dict(bbox='box AP', kpt='landmark AP', kpt_vis='visible landmark AP')
        kinds = list(classwise)
        header = ['category'] + [titles[kind] for kind in kinds]
        rows = [[name] + [
            'nan' if math.isnan(classwise[kind][label + 1]) else f'{classwise[kind][label + 1]:.3f}'
            for kind in kinds
        ] for label, name in enumerate(self.landmark_meta['classes'])]
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        lines = [
            ' | '.join(cell.ljust(width) for cell, width in zip(row, widths))
            for row in [header] + rows
        ]
        lines.insert(1, '-+-'.join('-' * width for width in widths))
        return '\n'.join(lines)
