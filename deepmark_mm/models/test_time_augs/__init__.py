# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_tta_model import DeepMarkTTAModel
from .flip_fusion import (FlipFusedMaps, check_flip_indices, fuse_flip_outputs,
                          unmirror_landmark_regression, unmirror_maps,
                          unmirror_slot_maps)
from .merge_detections import DEFAULT_SOFT_NMS, merge_view_detections
from .tta_config import (DEFAULT_TTA_MODEL, resolve_tta_config,
                         tta_pipeline_from_test_pipeline)

__all__ = [
    'DeepMarkTTAModel', 'FlipFusedMaps', 'check_flip_indices', 'fuse_flip_outputs',
    'unmirror_landmark_regression', 'unmirror_maps', 'unmirror_slot_maps',
    'DEFAULT_SOFT_NMS', 'merge_view_detections', 'DEFAULT_TTA_MODEL', 'resolve_tta_config',
    'tta_pipeline_from_test_pipeline'
]
