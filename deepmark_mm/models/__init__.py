# Copyright (c) deepmark_mm contributors. All rights reserved.
from . import (backbones, dense_heads, losses, necks, task_modules, test_time_augs,  # noqa: F401
               utils)
