# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Fail early, with the supported ranges named, when the OpenMMLab stack does not fit."""
from typing import Tuple

from mmengine.utils import digit_version


def check_version(package: str, installed: str, supported: Tuple[str, str]) -> None:
    """Raise ``ImportError`` if ``installed`` is outside ``[supported[0], supported[1])``."""
    low, high = supported
    if not digit_version(low) <= digit_version(installed) < digit_version(high):
        raise ImportError(
            f'deepmark_mm needs {package}>={low},<{high}, but {package}=={installed} is '
            'installed. Run `bash tools/setup_env.sh` or see README.md, "Install into your '
            'own environment".')


def check_openmmlab_versions() -> None:
    """Check mmengine, mmcv and mmdet against the ranges in :mod:`deepmark_mm.version`."""
    import mmcv
    import mmdet
    import mmengine

    from deepmark_mm import version
    for package, supported in ((mmengine, version.MMENGINE_RANGE), (mmcv, version.MMCV_RANGE),
                               (mmdet, version.MMDET_RANGE)):
        check_version(package.__name__, package.__version__, supported)
