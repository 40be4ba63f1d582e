# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Loading checkpoints weights-only with an allow-list (full unpickling only for trusted
files), and the one rule of whether they fit the model."""
import logging
import os
import os.path as osp
import pickle
import re
from typing import Callable, List, Optional, Set

import torch
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper

TRUST_ENV = 'DEEPMARK_TRUST_CHECKPOINTS'
_TRUSTED_PATHS: Set[str] = set()


def _history_buffer_statistic(buffer: object, name: str) -> Callable:
    """``getattr`` limited to ``HistoryBuffer``'s statistics (how it pickles them): the real
    ``getattr`` would let a file reach any attribute of any allowed object."""
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer()  # registers the default statistics (min, max, current, mean) on first use
    is_buffer = isinstance(buffer, HistoryBuffer) or (
        isinstance(buffer, type) and issubclass(buffer, HistoryBuffer))
    if not is_buffer or name not in HistoryBuffer._statistics_methods:
        raise pickle.UnpicklingError(
            f'refusing getattr({buffer!r}, {name!r}) while loading a checkpoint')
    return getattr(buffer, name)


def safe_checkpoint_globals() -> List:
    """Allow-list of weights-only loading: ``HistoryBuffer``, a ``getattr`` restricted to its
    statistics, and the numpy classes / functions that rebuild arrays, dtypes and scalars."""
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
    return [HistoryBuffer, (_history_buffer_statistic, 'builtins.getattr'), _reconstruct, scalar,
            np.ndarray, np.dtype] + [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGUSO']


def trust_checkpoint(path: str) -> None:
    """Allow full (code-executing) unpickling of one checkpoint file the caller trusts."""
    _TRUSTED_PATHS.add(osp.realpath(osp.expanduser(path)))


def load_checkpoint_file(filename: str, map_location: Optional[Callable] = None):
    """Load a local checkpoint weights-only (:func:`safe_checkpoint_globals`), or fully if
    trusted (``DEEPMARK_TRUST_CHECKPOINTS=1`` or :func:`trust_checkpoint`); raises
    ``FileNotFoundError`` or, for an untrusted file beyond the allow-list, ``UnpicklingError``."""
    filename = osp.expanduser(filename)
    try:
        with torch.serialization.safe_globals(safe_checkpoint_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        trusted = os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes') or \
            osp.realpath(filename) in _TRUSTED_PATHS
        if not trusted:
            raise pickle.UnpicklingError(
                f'{filename} holds objects beyond tensors and plain data, and loading them can '
                f'run code. If you trust this file, pass --trust-checkpoint (tools), set '
                f'{TRUST_ENV}=1 or call deepmark_mm.utils.trust_checkpoint(path), and load it '
                f'again. torch said: {error}') from error
        print_log(f'Fully unpickling trusted checkpoint {filename} ({TRUST_ENV}).',
                  logger='current')
        return torch.load(filename, map_location=map_location, weights_only=False)


def _first(keys: List[str], limit: Optional[int] = 5) -> str:
    """``keys`` joined, the first ``limit`` only (None: all) and how many more."""
    shown = keys if limit is None else keys[:limit]
    more = len(keys) - len(shown)
    return ', '.join(shown) + (f' and {more} more' if more else '')


def load_model_checkpoint(model: torch.nn.Module, checkpoint: dict, checkpoint_name: str,
                          config_name: str, load_partial: bool = False) -> None:
    """Load a checkpoint into the config's model by the one fit rule of every entry point.

    Every tensor of the model (``num_batches_tracked`` aside) must come from the checkpoint with
    its shape and the checkpoint must hold nothing else, unless ``load_partial`` (config key)
    loads the tensors that fit and warns about the others. ``model`` may be wrapped (DDP, TTA);
    ``checkpoint`` holds a ``state_dict`` or is one; the names are for messages.

    Raises:
        RuntimeError: Naming the checkpoint, the config and the first mismatching keys.
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    state_dict = {re.sub(r'^module\.', '', key): value
                  for key, value in checkpoint.get('state_dict', checkpoint).items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state_dict.items()
              if k in own and v.shape != own[k].shape]
    problems = [f'{len(found)} {what} ({_first(found, None if load_partial else 5)})'
                for what, found in (('missing keys', missing), ('unexpected keys', unexpected),
                                    ('shape mismatches, checkpoint vs model', shapes)) if found]
    if problems and not load_partial:
        raise RuntimeError(
            f'checkpoint {checkpoint_name} does not fit the model of {config_name}: '
            f'{"; ".join(problems)}. To load only the tensors that fit on purpose (fine-tuning '
            'from another model), set load_partial=True (--cfg-options load_partial=True).')
    fitting = {k: v for k, v in state_dict.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(fitting, strict=False)
    if problems:
        print_log(f'load_partial: {len(fitting)} of {len(own)} tensors of the model of '
                  f'{config_name} loaded from {checkpoint_name}, the others keep their '
                  f'initialisation: {"; ".join(problems)}', logger='current',
                  level=logging.WARNING)
