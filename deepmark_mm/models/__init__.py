# Copyright (c) deepmark_mm contributors. All rights reserved.
from . import backbones, dense_heads, necks, task_modules, test_time_augs, utils  # noqa: F401
