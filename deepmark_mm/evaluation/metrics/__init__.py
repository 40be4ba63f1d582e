# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepfashion2_metric import KEYPOINT_MAX_DETS, DeepFashion2Metric

__all__ = ['DeepFashion2Metric', 'KEYPOINT_MAX_DETS']
