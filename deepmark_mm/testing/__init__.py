# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Generated data for tests, demos and benchmarks (not imported by ``import deepmark_mm``)."""
from .synthetic import (coco_file_name, data_root_cfg_options, make_synthetic_deepfashion2,
                        synthesize_sample)
from .synthetic_garments import GarmentTemplate, garment_template
from .toy_keypoints import make_toy_keypoint_set, toy_keypoint_metainfo

__all__ = [
    'coco_file_name', 'data_root_cfg_options', 'make_synthetic_deepfashion2', 'synthesize_sample',
    'GarmentTemplate', 'garment_template', 'make_toy_keypoint_set', 'toy_keypoint_metainfo'
]
