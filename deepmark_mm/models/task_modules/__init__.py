# Copyright (c) deepmark_mm contributors. All rights reserved.
from ..utils.ground_truth_maps import DeepMarkTargets
from .deepmark_codec import DeepMarkCodec
from .keypoint_grouping import group_keypoints_exclusive, group_keypoints_nearest

__all__ = [
    'DeepMarkCodec', 'DeepMarkTargets', 'group_keypoints_exclusive', 'group_keypoints_nearest'
]
