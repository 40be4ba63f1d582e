# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Version of deepmark_mm and the ranges of the OpenMMLab stack it supports."""
from typing import Tuple

__version__ = '0.1.0'
version_info: Tuple[int, ...] = tuple(int(part) for part in __version__.split('.'))

#: Inclusive lower / exclusive upper bounds checked at import time.
MMENGINE_RANGE: Tuple[str, str] = ('0.10.0', '1.0.0')
MMCV_RANGE: Tuple[str, str] = ('2.0.0rc4', '2.2.0')
MMDET_RANGE: Tuple[str, str] = ('3.3.0', '3.4.0')
