# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Import deepmark_mm before any test module imports mmdet.

On mmcv-lite, ``import deepmark_mm`` registers the stand-in ``mmcv._ext`` that ``mmcv.ops`` (and so
``mmdet.models``) needs to import; a test file run on its own must not depend on another file
having imported the plugin first.
"""
import deepmark_mm  # noqa: F401

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/analysis_tools/x.py')``: a script of ``tools/`` imported as a module."""

    def load(relative_path: str):
        path = REPO / relative_path
        spec = importlib.util.spec_from_file_location(f'deepmark_tool_{path.stem}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
