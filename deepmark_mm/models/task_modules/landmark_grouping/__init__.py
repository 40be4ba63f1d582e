# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Landmark-grouping rules: one registered class per file, next to its pure tensor function."""
from .base import BaseLandmarkGrouping, GroupedLandmarks, build_grouping
from .centernet_nearest import CenterNetLandmarkGrouping, group_landmarks_nearest
from .exclusive import ExclusiveLandmarkGrouping, group_landmarks_exclusive

__all__ = [
    'BaseLandmarkGrouping', 'GroupedLandmarks', 'build_grouping', 'CenterNetLandmarkGrouping',
    'group_landmarks_nearest', 'ExclusiveLandmarkGrouping', 'group_landmarks_exclusive'
]
