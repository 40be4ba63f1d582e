# Copyright (c) deepmark_mm contributors. All rights reserved.
"""deepmark_mm: DeepMark one-shot clothing detection as an MMDetection 3.x plugin.

Importing the package registers every component into MMDetection's registries (scope ``mmdet``)
and does exactly three other things (docs/architecture.md, "What import deepmark_mm does"):

1. on mmcv-lite, installs a stand-in ``sys.modules['mmcv._ext']`` so ``mmcv.ops`` imports
   (:mod:`deepmark_mm.mmcv_ext_stub`; nothing with full mmcv);
2. checks the OpenMMLab versions (ImportError outside the supported ranges);
3. registers :func:`deepmark_mm.utils.load_checkpoint_file` as MMEngine's ``CheckpointLoader`` for
   local paths: ``torch.load(weights_only=True)`` with an allow-list of the plain-data types
   MMEngine writes into checkpoints (full unpickling only for trusted files).

The opt-in CPU-training components (:mod:`deepmark_mm.cpu_training`) are not imported here.
"""
from .mmcv_ext_stub import install_mmcv_ext_stub

install_mmcv_ext_stub()

from .utils import check_openmmlab_versions, register_checkpoint_loader  # noqa: E402,I001
from .version import __version__, version_info  # noqa: E402

check_openmmlab_versions()
register_checkpoint_loader()

from . import datasets, engine, evaluation, models, structures, visualization  # noqa: E402,F401,I001

__all__ = ['__version__', 'version_info']
