# Copyright (c) deepmark_mm contributors. All rights reserved.
from .metrics import DeepFashion2Metric, MatchedKeypointMetric

__all__ = ['DeepFashion2Metric', 'MatchedKeypointMetric']
