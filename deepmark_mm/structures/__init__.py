# Copyright (c) deepmark_mm contributors. All rights reserved.
from .bbox_keypoints import BBoxKeypoints

__all__ = ['BBoxKeypoints']
