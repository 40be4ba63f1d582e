# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_tta_model import DEFAULT_SOFT_NMS, DeepMarkTTAModel, merge_view_detections
from .flip_fusion import FlipFusedMaps, fuse_flip_outputs
from .tta_config import (DEFAULT_TTA_MODEL, resolve_tta_config,
                         tta_pipeline_from_test_pipeline)

__all__ = [
    'DeepMarkTTAModel', 'FlipFusedMaps', 'fuse_flip_outputs',
    'DEFAULT_SOFT_NMS', 'merge_view_detections', 'DEFAULT_TTA_MODEL', 'resolve_tta_config',
    'tta_pipeline_from_test_pipeline'
]
