# Copyright (c) deepmark_mm contributors. All rights reserved.
from .config_resolution import config_search_dirs, load_deepmark_config, resolve_config_path
from .deepmark_inferencer import DeepMarkInferencer, image_ids
from .inference_inputs import build_inference_pipeline
from .prediction_format import PREDICTION_KEYS, prediction_to_readable, select_detections

__all__ = [
    'DeepMarkInferencer', 'PREDICTION_KEYS', 'build_inference_pipeline', 'config_search_dirs',
    'image_ids', 'load_deepmark_config', 'prediction_to_readable', 'resolve_config_path',
    'select_detections'
]
