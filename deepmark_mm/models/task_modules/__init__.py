# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_codec import DeepMarkCodec, DeepMarkTargets
from .landmark_grouping import group_landmarks_exclusive, group_landmarks_nearest

__all__ = [
    'DeepMarkCodec', 'DeepMarkTargets', 'group_landmarks_exclusive', 'group_landmarks_nearest'
]
