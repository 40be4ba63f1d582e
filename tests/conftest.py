# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Import deepmark_mm before any test module imports mmdet.

On mmcv-lite, ``import deepmark_mm`` registers the stand-in ``mmcv._ext`` that ``mmcv.ops`` (and so
``mmdet.models``) needs to import; a test file run on its own must not depend on another file
having imported the plugin first.
"""
import deepmark_mm  # noqa: F401
