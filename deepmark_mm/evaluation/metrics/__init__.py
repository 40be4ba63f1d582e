# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepfashion2_metric import DeepFashion2Metric
from .matched_keypoint_metric import MatchedKeypointMetric

__all__ = ['DeepFashion2Metric', 'MatchedKeypointMetric']
