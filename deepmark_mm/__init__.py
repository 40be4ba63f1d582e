# Copyright (c) deepmark_mm contributors. All rights reserved.
"""deepmark_mm: DeepMark one-shot clothing detection as an MMDetection 3.x plugin.

Importing it registers the components (scope ``mmdet``); docs/architecture.md, "What import
deepmark_mm does".
"""
from .mmcv_ext_stub import install_mmcv_ext_stub

install_mmcv_ext_stub()

from mmengine.runner.checkpoint import CheckpointLoader  # noqa: E402,I001

from .utils import load_checkpoint_file  # noqa: E402,I001
from .version import __version__, check_openmmlab_versions, version_info  # noqa: E402

check_openmmlab_versions()
# MMEngine loads local checkpoints weights-only (deepmark_mm.utils.checkpoint_loading)
CheckpointLoader.register_scheme(prefixes='', force=True)(load_checkpoint_file)

from . import (datasets, engine, evaluation, models, structures,  # noqa: E402,F401,I001
               visualization)

__all__ = ['__version__', 'version_info']
