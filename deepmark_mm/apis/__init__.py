# Copyright (c) deepmark_mm contributors. All rights reserved.
from .config_resolution import config_search_dirs, load_deepmark_config, resolve_config_path
from .deepmark_inferencer import DeepMarkInferencer
from .inference_inputs import (assign_image_ids, build_inference_pipeline, image_name,
                               list_image_inputs)
from .prediction_format import (PREDICTION_KEYS, PredictionWriter, instances_to_prediction,
                                prediction_to_instances, prediction_to_readable)

__all__ = [
    'DeepMarkInferencer', 'PREDICTION_KEYS', 'PredictionWriter', 'assign_image_ids',
    'build_inference_pipeline', 'config_search_dirs', 'image_name', 'instances_to_prediction',
    'list_image_inputs', 'load_deepmark_config', 'prediction_to_instances',
    'prediction_to_readable', 'resolve_config_path'
]
