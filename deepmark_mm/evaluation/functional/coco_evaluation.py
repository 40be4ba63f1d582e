# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Quiet pycocotools COCOeval runs with the DeepFashion2 settings.

Boxes: plain COCO bbox evaluation (IoU .50:.05:.95, maxDets 1/10/100, areas all/small/medium/large).
Landmarks: COCO keypoint evaluation with the 294 official OKS sigmas and pycocotools' keypoint
defaults (maxDets [20], areas all/medium/large), ``useCats = 1``.

With ``useCats = 1`` every category is matched and accumulated on its own, and the summary is the
mean over the valid (category, threshold, recall) precisions, whose blocks all have the same size.
So the keypoint evaluation can run one category at a time and merge the per-category precision /
recall arrays before pycocotools' own ``summarize``: exactly the numbers of a single run over all
categories, with bounded memory and a per-category keypoint layout.
"""
import contextlib
import copy
import importlib.util
import io
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from deepmark_mm.datasets.deepfashion2_metainfo import OKS_SIGMAS

#: Index of each reported summary number in ``COCOeval.stats``.
BBOX_STAT_INDEX: Dict[str, int] = dict(mAP=0, mAP_50=1, mAP_75=2, mAP_s=3, mAP_m=4, mAP_l=5)
KEYPOINT_STAT_INDEX: Dict[str, int] = dict(mAP=0, mAP_50=1, mAP_75=2, mAP_m=3, mAP_l=4)
#: Matching / accumulation implementations: pycocotools' ``COCOeval`` (the reference) or
#: faster-coco-eval's C++ ``COCOeval_faster`` (same numbers, checked in tests/test_evaluation).
BACKENDS = ('pycocotools', 'faster_coco_eval')


def coco_from_dataset(dataset: Dict) -> COCO:
    """An indexed pycocotools ``COCO`` over an in-memory dataset dict, without console output.

    Args:
        dataset (dict): ``images``, ``annotations``, ``categories``.

    Returns:
        COCO: The indexed API object (it keeps a reference to ``dataset``).
    """
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_coco_results(coco_gt: COCO, results: List[Dict]) -> COCO:
    """``coco_gt.loadRes`` that accepts an empty result list and leaves ``results`` untouched.

    Args:
        coco_gt (COCO): The ground truth.
        results (list[dict]): COCO result entries, all boxes or all keypoints.

    Returns:
        COCO: The detections. With no results, an empty set over the same images and categories,
        so that every category with ground truth scores AP 0.
    """
    if not results:
        return coco_from_dataset(
            dict(
                images=list(coco_gt.dataset['images']),
                categories=copy.deepcopy(coco_gt.dataset['categories']),
                annotations=[]))
    with contextlib.redirect_stdout(io.StringIO()):
        # loadRes writes id / area / bbox into the entries: give it shallow copies
        return coco_gt.loadRes([dict(entry) for entry in results])


def _evaluate_quietly(coco_gt: COCO,
                      results: List[Dict],
                      iou_type: str,
                      img_ids: Sequence[int],
                      cat_ids: Sequence[int],
                      kpt_oks_sigmas: Sequence[float],
                      backend: str = 'pycocotools') -> COCOeval:
    """evaluate() + accumulate() of one run, stdout swallowed; see :data:`BACKENDS`."""
    check_backend(backend)
    if backend == 'faster_coco_eval':
        return _evaluate_faster(coco_gt, results, iou_type, img_ids, cat_ids, kpt_oks_sigmas)
    evaluator = COCOeval(coco_gt, load_coco_results(coco_gt, results), iou_type)
    evaluator.params.imgIds = list(img_ids)
    evaluator.params.catIds = list(cat_ids)
    evaluator.params.useCats = 1
    if iou_type == 'keypoints':
        sigmas = np.asarray(kpt_oks_sigmas, dtype=np.float64)
        evaluator.params.kpt_oks_sigmas = sigmas
        evaluator.params.maxDets = [20]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator


def check_backend(backend: str) -> None:
    """Raise a clear error for an unknown or uninstalled evaluation backend."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if backend == 'faster_coco_eval' and importlib.util.find_spec('faster_coco_eval') is None:
        raise ImportError('backend="faster_coco_eval" needs the faster-coco-eval package '
                          '(pip install faster-coco-eval, or backend="pycocotools")')


def _evaluate_faster(coco_gt: COCO, results: List[Dict], iou_type: str, img_ids: Sequence[int],
                     cat_ids: Sequence[int], kpt_oks_sigmas: Sequence[float]) -> COCOeval:
    """faster-coco-eval's matching + accumulation, returned as an accumulated pycocotools
    ``COCOeval`` (same ``params``, ``eval['precision']`` (T, R, K, A, M), ``eval['recall']``
    (T, K, A, M)), so that pycocotools' own ``summarize`` makes the summary numbers."""
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval import COCOeval_faster
    shell = COCOeval(iouType=iou_type)  # pycocotools' params for this iou type
    params = shell.params
    params.imgIds, params.catIds, params.useCats = list(img_ids), list(cat_ids), 1
    if iou_type == 'keypoints':
        params.kpt_oks_sigmas = np.asarray(kpt_oks_sigmas, dtype=np.float64)
        params.maxDets = [20]
    faster_gt = FasterCOCO()
    faster_gt.dataset = coco_gt.dataset
    with contextlib.redirect_stdout(io.StringIO()):
        faster_gt.createIndex()
        if results:  # loadRes writes into the entries: give it shallow copies
            faster_dt = faster_gt.loadRes([dict(entry) for entry in results])
        else:
            faster_dt = FasterCOCO()
            faster_dt.dataset = dict(images=list(coco_gt.dataset['images']),
                                     categories=copy.deepcopy(coco_gt.dataset['categories']),
                                     annotations=[])
            faster_dt.createIndex()
        evaluator = COCOeval_faster(faster_gt, faster_dt, iou_type,
                                    print_function=lambda *args: None)
        for name in ('imgIds', 'catIds', 'useCats', 'maxDets', 'kpt_oks_sigmas', 'iouThrs',
                     'recThrs', 'areaRng', 'areaRngLbl'):
            if hasattr(params, name):  # bbox params have no kpt_oks_sigmas
                setattr(evaluator.params, name, copy.deepcopy(getattr(params, name)))
        evaluator.evaluate()
        evaluator.accumulate()
    shell.eval = dict(params=params, counts=evaluator.eval['counts'],
                      precision=evaluator.eval['precision'], recall=evaluator.eval['recall'])
    return shell


def _summarize_quietly(evaluator: COCOeval) -> str:
    """summarize() with pycocotools' table captured and returned."""
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        evaluator.summarize()
    return table.getvalue()


def check_keypoint_slots(coco_gt: COCO, num_slots: int) -> None:
    """Raise when ground-truth keypoint rows do not have ``3 * num_slots`` numbers.

    Raises:
        ValueError: Naming the first bad annotation id.
    """
    for ann in coco_gt.dataset.get('annotations', []):
        found = len(ann.get('keypoints', ()))
        if found != 3 * num_slots:
            raise ValueError(f'ground-truth annotation {ann.get("id")} (image '
                             f'{ann.get("image_id")}) has {found} keypoint numbers, expected '
                             f'{3 * num_slots} for {num_slots} OKS sigmas')


def run_coco_eval(coco_gt: COCO,
                  results: List[Dict],
                  iou_type: str,
                  img_ids: Sequence[int],
                  kpt_oks_sigmas: Sequence[float] = OKS_SIGMAS,
                  backend: str = 'pycocotools') -> Tuple[COCOeval, str]:
    """One pycocotools run over every category of ``coco_gt``.

    Args:
        coco_gt (COCO): Ground truth (its categories define ``catIds``).
        results (list[dict]): Result entries of ``iou_type``.
        iou_type (str): ``'bbox'`` or ``'keypoints'``.
        img_ids (Sequence[int]): Images to evaluate (those that were predicted).
        kpt_oks_sigmas (Sequence[float]): Per-slot OKS sigmas for ``'keypoints'``; defaults to the
            294 official DeepFashion2 sigmas.
        backend (str): One of :data:`BACKENDS`. Defaults to ``'pycocotools'``.

    Returns:
        tuple[COCOeval, str]: The summarized evaluator (``stats``; ``eval['precision']`` of shape
        (T, R, K, A, M)) and the summary table pycocotools printed.
    """
    if iou_type not in ('bbox', 'keypoints'):
        raise ValueError(f'iou_type must be "bbox" or "keypoints", got {iou_type!r}')
    if iou_type == 'keypoints':
        check_keypoint_slots(coco_gt, len(kpt_oks_sigmas))
    evaluator = _evaluate_quietly(coco_gt, results, iou_type, img_ids, sorted(coco_gt.getCatIds()),
                                  kpt_oks_sigmas, backend)
    return evaluator, _summarize_quietly(evaluator)


def run_bbox_eval_by_category(category_runs: Iterable[Tuple[int, COCO, List[Dict]]],
                              img_ids: Sequence[int],
                              backend: str = 'pycocotools') -> Tuple[COCOeval, str]:
    """Box evaluation one category at a time, merged like :func:`run_keypoint_eval_by_category`.

    Exactly the numbers of :func:`run_coco_eval` over all categories (``useCats = 1``: every
    category is matched and accumulated on its own), with only one category's result entries
    (and the copies the evaluators make of them) in memory at a time.

    Args:
        category_runs (Iterable[tuple]): ``(category_id, ground truth COCO, result entries)`` per
            category, in increasing category id; may be a generator.
        img_ids (Sequence[int]): Images to evaluate.
        backend (str): One of :data:`BACKENDS`. Defaults to ``'pycocotools'``.

    Returns:
        tuple[COCOeval, str]: A summarized evaluator (``stats``, ``eval['precision']``
        (T, R, K, A, M)) and pycocotools' summary table.
    """
    return _run_by_category(((cat_id, gt, results, OKS_SIGMAS)
                             for cat_id, gt, results in category_runs), img_ids, 'bbox', backend)


def run_keypoint_eval_by_category(category_runs: Iterable[Tuple[int, COCO, List[Dict],
                                                                Sequence[float]]],
                                  img_ids: Sequence[int],
                                  backend: str = 'pycocotools') -> Tuple[COCOeval, str]:
    """Keypoint evaluation one category at a time, merged into one summarized ``COCOeval``.

    With ``useCats = 1`` pycocotools matches and accumulates every category on its own, and each
    summary number is the mean of the valid precisions, which come in equal-sized blocks per
    category: concatenating the per-category ``precision`` / ``recall`` arrays and summarizing gives
    exactly the numbers of one run over all categories. Each category may use its own keypoint
    layout (e.g. only its own slots with the matching sigmas), and only one category's results
    need to exist at a time.

    Args:
        category_runs (Iterable[tuple]): ``(category_id, ground truth COCO, result entries,
            OKS sigmas)`` per category, in increasing category id; may be a generator.
        img_ids (Sequence[int]): Images to evaluate.
        backend (str): One of :data:`BACKENDS`. Defaults to ``'pycocotools'``.

    Returns:
        tuple[COCOeval, str]: A summarized evaluator whose ``eval['precision']`` (T, R, K, A, M)
        and ``eval['recall']`` (T, K, A, M) cover every category, and pycocotools' summary table.
    """
    return _run_by_category(category_runs, img_ids, 'keypoints', backend)


def _run_by_category(category_runs: Iterable[Tuple[int, COCO, List[Dict], Sequence[float]]],
                     img_ids: Sequence[int], iou_type: str, backend: str) -> Tuple[COCOeval, str]:
    """The per-category runs of ``iou_type`` and their merge (see the two callers)."""
    cat_ids, precisions, recalls, params = [], [], [], None
    for cat_id, coco_gt, results, sigmas in category_runs:
        if iou_type == 'keypoints':
            check_keypoint_slots(coco_gt, len(sigmas))
        evaluator = _evaluate_quietly(coco_gt, results, iou_type, img_ids, [cat_id], sigmas,
                                      backend)
        cat_ids.append(cat_id)
        precisions.append(evaluator.eval['precision'])
        recalls.append(evaluator.eval['recall'])
        params = evaluator.params
    if params is None:
        raise ValueError(f'{iou_type} evaluation by category got no category to evaluate')
    merged = COCOeval(iouType=iou_type)
    merged.params = copy.deepcopy(params)
    merged.params.catIds = cat_ids
    if iou_type == 'keypoints':
        merged.params.kpt_oks_sigmas = None  # differs per category
    merged.eval = dict(
        params=merged.params,
        counts=[
            len(params.iouThrs),
            len(params.recThrs),
            len(cat_ids),
            len(params.areaRng),
            len(params.maxDets)
        ],
        precision=np.concatenate(precisions, axis=2),
        recall=np.concatenate(recalls, axis=1))
    return merged, _summarize_quietly(merged)


def mean_precision(precision: np.ndarray) -> float:
    """Mean of the valid (> -1) precisions, NaN when there are none (no ground truth).

    Args:
        precision (np.ndarray): Any slice of ``COCOeval.eval['precision']``.

    Returns:
        float: The average precision.
    """
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else float('nan')


def summary_stats(evaluator: COCOeval, stat_index: Dict[str, int]) -> Dict[str, float]:
    """Pick named numbers out of ``COCOeval.stats``; pycocotools' -1 (no ground truth) -> NaN.

    Args:
        evaluator (COCOeval): A summarized evaluator.
        stat_index (dict[str, int]): Name -> index in ``stats``.

    Returns:
        dict[str, float]: Name -> value.
    """
    return {
        name: float('nan') if evaluator.stats[index] == -1 else float(evaluator.stats[index])
        for name, index in stat_index.items()
    }


def per_category_ap(evaluator: COCOeval) -> Dict[int, float]:
    """AP (IoU / OKS .50:.95, area ``all``, largest maxDets) of every evaluated category.

    Args:
        evaluator (COCOeval): An accumulated evaluator.

    Returns:
        dict[int, float]: category_id -> AP, NaN for categories without ground truth.
    """
    precision = evaluator.eval['precision']  # (T, R, K, A, M)
    return {
        int(cat_id): mean_precision(precision[:, :, k, 0, -1])
        for k, cat_id in enumerate(evaluator.params.catIds)
    }
