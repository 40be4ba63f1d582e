# Copyright (c) deepmark_mm contributors. All rights reserved.
from . import functional, metrics  # noqa: F401
from .metrics import DeepFashion2Metric, MatchedKeypointMetric

__all__ = ['DeepFashion2Metric', 'MatchedKeypointMetric', 'functional', 'metrics']
