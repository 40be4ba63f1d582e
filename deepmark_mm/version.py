# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Version of deepmark_mm and the ranges of the OpenMMLab stack it supports."""
from typing import Tuple

__version__ = '0.1.0'

#: Inclusive lower / exclusive upper bounds checked at import time.
MMENGINE_RANGE: Tuple[str, str] = ('0.10.0', '1.0.0')
MMCV_RANGE: Tuple[str, str] = ('2.0.0rc4', '2.2.0')
MMDET_RANGE: Tuple[str, str] = ('3.3.0', '3.4.0')


def parse_version_info(version_str: str) -> Tuple:
    """Parse a version string into a tuple, e.g. ``'0.1.0rc1'`` -> ``(0, 1, 0, 'rc1')``."""
    version_info = []
    for part in version_str.split('.'):
        if part.isdigit():
            version_info.append(int(part))
        elif 'rc' in part:
            major, rc = part.split('rc')
            version_info.append(int(major))
            version_info.append(f'rc{rc}')
    return tuple(version_info)


version_info = parse_version_info(__version__)
