# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_codec import DeepMarkCodec, DeepMarkTargets
from .keypoint_grouping import group_keypoints_exclusive, group_keypoints_nearest

__all__ = [
    'DeepMarkCodec', 'DeepMarkTargets', 'group_keypoints_exclusive', 'group_keypoints_nearest'
]
