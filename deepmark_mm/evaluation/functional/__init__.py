# Copyright (c) deepmark_mm contributors. All rights reserved.
from .coco_evaluation import (BACKENDS, BBOX_STAT_INDEX, KEYPOINT_STAT_INDEX, check_backend,
                              check_keypoint_slots,
                              coco_from_dataset, load_coco_results, mean_precision, per_category_ap,
                              run_bbox_eval_by_category, run_coco_eval,
                              run_keypoint_eval_by_category, summary_stats)
from .deepfashion2_coco_format import (MAX_CATEGORY_SLOTS, OCCLUDED, UNLABELLED, VISIBLE,
                                       bbox_results, build_coco_ground_truth, check_category_ids,
                                       category_keypoint_results, category_landmark_annotations,
                                       check_finite_predictions, deepfashion2_categories,
                                       dump_json_list, expand_own_keypoints, gather_own_keypoints,
                                       instances_to_coco_annotations, keypoint_results,
                                       top_k_per_category, xyxy_to_xywh)

__all__ = [
    'BACKENDS', 'check_backend', 'BBOX_STAT_INDEX', 'KEYPOINT_STAT_INDEX', 'check_keypoint_slots',
    'coco_from_dataset', 'load_coco_results', 'mean_precision', 'per_category_ap', 'run_coco_eval',
    'run_bbox_eval_by_category', 'run_keypoint_eval_by_category', 'summary_stats',
    'MAX_CATEGORY_SLOTS', 'UNLABELLED',
    'OCCLUDED', 'VISIBLE', 'bbox_results', 'build_coco_ground_truth', 'check_category_ids',
    'check_finite_predictions', 'deepfashion2_categories', 'dump_json_list', 'expand_own_keypoints',
    'gather_own_keypoints', 'instances_to_coco_annotations', 'category_keypoint_results',
    'category_landmark_annotations', 'keypoint_results', 'top_k_per_category', 'xyxy_to_xywh'
]
