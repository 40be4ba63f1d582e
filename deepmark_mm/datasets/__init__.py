# Copyright (c) deepmark_mm contributors. All rights reserved.
from . import transforms  # noqa: F401
from .deepfashion2_dataset import DeepFashion2Dataset
from .deepfashion2_format import DeepFashion2FormatError, coco_annotation_to_instance
from .deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES, NUM_CLASSES,
                                    NUM_KEYPOINTS, OKS_SIGMAS, flip_indices,
                                    get_deepfashion2_metainfo)
from .fld_dataset import FLDDataset, get_fld_metainfo
from .keypoint_coco_dataset import KeypointCocoDataset
from .keypoint_metainfo import (category_keypoint_mask, check_keypoint_metainfo, keypoint_owner,
                                resolve_keypoint_metainfo, resolve_keypoint_slices)

__all__ = [
    'CATEGORY_NAMES', 'CLASSES', 'KEYPOINT_SLICES', 'NUM_CLASSES', 'NUM_KEYPOINTS', 'OKS_SIGMAS',
    'category_keypoint_mask', 'flip_indices', 'get_deepfashion2_metainfo',
    'DeepFashion2Dataset', 'DeepFashion2FormatError',
    'coco_annotation_to_instance',
    'FLDDataset', 'get_fld_metainfo',
    'KeypointCocoDataset', 'check_keypoint_metainfo',
    'keypoint_owner', 'resolve_keypoint_slices', 'resolve_keypoint_metainfo'
]
