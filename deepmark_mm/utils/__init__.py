# Copyright (c) deepmark_mm contributors. All rights reserved.
from .checkpoint_loading import (is_trusted, load_checkpoint_file, register_checkpoint_loader,
                                 trust_checkpoint)
from .version_guard import check_openmmlab_versions, check_version

__all__ = [
    'check_openmmlab_versions', 'check_version', 'is_trusted', 'load_checkpoint_file',
    'register_checkpoint_loader', 'trust_checkpoint'
]
