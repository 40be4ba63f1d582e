# Copyright (c) deepmark_mm contributors. All rights reserved.
from .config_resolution import load_deepmark_config, resolve_config_path
from .deepmark_inferencer import (DeepMarkInferencer, build_inference_pipeline, image_files,
                                  image_ids)
from .prediction_format import PREDICTION_KEYS, prediction_to_readable, select_detections

__all__ = [
    'DeepMarkInferencer', 'PREDICTION_KEYS', 'build_inference_pipeline', 'image_files',
    'image_ids', 'load_deepmark_config', 'prediction_to_readable', 'resolve_config_path',
    'select_detections'
]
