# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_codec import (DeepMarkCodec, DeepMarkTargets, network_input_size,
                             project_bboxes, project_points, to_original_image)
from .landmark_grouping import group_landmarks_exclusive, group_landmarks_nearest

__all__ = [
    'DeepMarkCodec', 'DeepMarkTargets', 'network_input_size', 'project_bboxes',
    'project_points', 'to_original_image', 'group_landmarks_exclusive', 'group_landmarks_nearest'
]
