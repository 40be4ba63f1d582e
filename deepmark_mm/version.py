# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Version of deepmark_mm and the ranges of the OpenMMLab stack it supports, checked at import."""
from typing import Tuple

__version__ = '0.1.0'
version_info: Tuple[int, ...] = tuple(int(part) for part in __version__.split('.'))

#: Inclusive lower / exclusive upper bounds checked at import time.
MMENGINE_RANGE: Tuple[str, str] = ('0.10.0', '1.0.0')
MMCV_RANGE: Tuple[str, str] = ('2.0.0rc4', '2.2.0')
MMDET_RANGE: Tuple[str, str] = ('3.3.0', '3.4.0')


def check_version(package: str, installed: str, supported: Tuple[str, str]) -> None:
    """Raise ``ImportError`` if ``installed`` is outside ``[supported[0], supported[1])``."""
    from mmengine.utils import digit_version  # setup.py executes this file without mmengine
    low, high = supported
    if not digit_version(low) <= digit_version(installed) < digit_version(high):
        raise ImportError(
            f'deepmark_mm needs {package}>={low},<{high}, but {package}=={installed} is '
            'installed. Run `bash tools/setup_env.sh` or see README.md, "Install into your '
            'own environment".')


def check_openmmlab_versions() -> None:
    """Check mmengine, mmcv and mmdet against the ranges above."""
    import mmcv
    import mmdet
    import mmengine
    for package, supported in ((mmengine, MMENGINE_RANGE), (mmcv, MMCV_RANGE),
                               (mmdet, MMDET_RANGE)):
        check_version(package.__name__, package.__version__, supported)
