# Copyright (c) deepmark_mm contributors. All rights reserved.
from .landmark_grouping import (BaseLandmarkGrouping, CenterNetLandmarkGrouping,
                                ExclusiveLandmarkGrouping, GroupedLandmarks, build_grouping,
                                group_landmarks_exclusive, group_landmarks_nearest)

__all__ = [
    'BaseLandmarkGrouping', 'CenterNetLandmarkGrouping', 'ExclusiveLandmarkGrouping',
    'GroupedLandmarks', 'build_grouping', 'group_landmarks_exclusive', 'group_landmarks_nearest'
]
