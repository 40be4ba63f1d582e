# Copyright (c) deepmark_mm contributors. All rights reserved.
from .base_landmark_grouping import BaseLandmarkGrouping, build_grouping
from .centernet_landmark_grouping import CenterNetLandmarkGrouping
from .exclusive_landmark_grouping import ExclusiveLandmarkGrouping

__all__ = ['BaseLandmarkGrouping', 'build_grouping', 'CenterNetLandmarkGrouping', 'ExclusiveLandmarkGrouping']
