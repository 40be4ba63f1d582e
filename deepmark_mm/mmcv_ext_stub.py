# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Let ``mmcv.ops`` (and so ``mmdet.models``) import on mmcv-lite, which has no compiled ops.

``mmcv/ops/__init__.py`` loads the compiled extension ``mmcv._ext`` at import time, and mmdet
imports ``mmcv.ops`` everywhere, so on mmcv-lite ``import mmdet.models`` fails although most of
mmdet never calls a compiled op. When no ``mmcv._ext`` exists, :func:`install_mmcv_ext_stub`
registers a stand-in module under that name whose every attribute is a function raising
:class:`MissingMmcvOpError` (naming the op and how to get full mmcv) when called. With full mmcv
installed it does nothing. mmengine's ``mmcv_full_available()`` and mmcv's
``check_ops_exist()`` still answer False, so nothing else in mmengine / mmdet changes behaviour;
only code that calls a compiled op gets the error, at call time instead of at import. deepmark_mm itself calls no mmcv op: NMS, soft-NMS and DCNv2 come from
:mod:`deepmark_mm.ops` (torchvision kernels and torch code).
"""
import importlib.machinery
import importlib.util
import sys
import types
from typing import Callable, NoReturn

STUB_NAME = 'mmcv._ext'

INSTALL_HINT = (
    'Install full mmcv (compiled ops) for it: `DEEPMARK_MMCV=full bash tools/setup_env.sh` '
    'builds mmcv 2.1.0 from source into the venv, or `mim install "mmcv==2.1.0"` where a wheel '
    'exists for your torch. deepmark_mm itself runs NMS, soft-NMS and DCNv2 without it '
    '(deepmark_mm.ops).')


class MissingMmcvOpError(RuntimeError):
    """An mmcv op was called that needs mmcv's compiled extension, absent on mmcv-lite."""


class _MissingOpsModule(types.ModuleType):
    """Stand-in for ``mmcv._ext``: any attribute is an op that raises when called."""

    def __getattr__(self, op_name: str) -> Callable[..., NoReturn]:
        if op_name.startswith('__'):
            raise AttributeError(op_name)

        def missing_op(*args, **kwargs) -> NoReturn:
            raise MissingMmcvOpError(
                f'mmcv op `{op_name}` is not available: this mmcv is mmcv-lite, without '
                f'compiled ops. {INSTALL_HINT}')

        missing_op.__name__ = op_name
        return missing_op


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv is full mmcv (a real ``mmcv._ext``), not mmcv-lite."""
    module = sys.modules.get(STUB_NAME)
    if module is not None:
        return not isinstance(module, _MissingOpsModule)
    try:
        return importlib.util.find_spec(STUB_NAME) is not None
    except ImportError:  # no mmcv at all
        return False


def install_mmcv_ext_stub() -> bool:
    """Register the stand-in ``mmcv._ext`` when mmcv has no compiled extension.

    Returns:
        bool: True when the stand-in is (now or already) in place, False with full mmcv.
    """
    if mmcv_has_compiled_ops():
        return False
    if STUB_NAME not in sys.modules:
        import mmcv  # the parent package must exist before its submodule is registered
        stub = _MissingOpsModule(STUB_NAME, 'deepmark_mm stand-in for mmcv-lite: ops raise')
        # A spec without loader: importlib / pkgutil see the module, and mmengine's
        # ``mmcv_full_available()`` and mmcv's ``check_ops_exist()`` (loader is None) still
        # report mmcv-lite.
        stub.__spec__ = importlib.machinery.ModuleSpec(STUB_NAME, loader=None)
        sys.modules[STUB_NAME] = stub
        mmcv._ext = stub
    return True
