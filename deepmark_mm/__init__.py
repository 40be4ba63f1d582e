# Copyright (c) deepmark_mm contributors. All rights reserved.
"""deepmark_mm: DeepMark one-shot clothing detection as an MMDetection 3.x plugin.

Importing the package checks the OpenMMLab versions, makes MMEngine load checkpoints safely under
torch >= 2.6 and registers every component into MMDetection's registries (scope ``mmdet``).
"""
from .utils import check_openmmlab_versions, register_checkpoint_loader
from .version import __version__, version_info

check_openmmlab_versions()
register_checkpoint_loader()

from . import datasets, engine, evaluation, models, structures, visualization  # noqa: E402,F401,I001

__all__ = ['__version__', 'version_info']
