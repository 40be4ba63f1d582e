# Copyright (c) deepmark_mm contributors. All rights reserved.
"""deepmark_mm: DeepMark one-shot clothing detection as an MMDetection 3.x plugin.

Importing the package lets ``mmcv.ops`` import on mmcv-lite (:mod:`deepmark_mm.mmcv_ext_stub`),
checks the OpenMMLab versions, makes MMEngine load checkpoints safely under
torch >= 2.6 and registers every component into MMDetection's registries (scope ``mmdet``).
"""
from .mmcv_ext_stub import install_mmcv_ext_stub

install_mmcv_ext_stub()

from .utils import check_openmmlab_versions, register_checkpoint_loader  # noqa: E402,I001
from .version import __version__, version_info  # noqa: E402

check_openmmlab_versions()
register_checkpoint_loader()

from . import datasets, engine, evaluation, models, structures, visualization  # noqa: E402,F401,I001

__all__ = ['__version__', 'version_info']
