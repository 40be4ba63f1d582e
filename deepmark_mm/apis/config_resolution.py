# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Find and load a DeepMark config by path or file name (mmengine's ``Config.fromfile`` takes
paths only; mim looks names up only inside ``mim train`` / ``mim test``)."""
import copy
import glob
import os.path as osp
from typing import List, Optional, Union

from mmengine.config import Config

import deepmark_mm

_PACKAGE_DIR = osp.dirname(osp.abspath(deepmark_mm.__file__))


def config_search_dirs() -> List[str]:
    """Existing config folders: the checkout's ``configs/``, then ``deepmark_mm/.mim/configs``
    (unless it links to the first)."""
    candidates = [osp.join(osp.dirname(_PACKAGE_DIR), 'configs'),
                  osp.join(_PACKAGE_DIR, '.mim', 'configs')]
    found = [folder for folder in candidates if osp.isdir(folder)]
    return [folder for i, folder in enumerate(found)
            if osp.realpath(folder) not in map(osp.realpath, found[:i])]


def resolve_config_path(config: str) -> str:
    """Absolute path of a config: an existing file, a path relative to a ``configs`` folder, or
    a bare file name (``.py`` optional; searched recursively, ``_base_`` excluded). A file
    without extension stands for its name (a config id ``mim`` passes). FileNotFoundError when
    nothing matches, ValueError when a bare name matches several.
    """
    if osp.isfile(config) and osp.splitext(config)[1]:
        return osp.abspath(config)
    if osp.isfile(config):  # a copied deepmark_mm/.mim/ids/<config id>
        config = osp.basename(config)
    name = config if config.endswith('.py') else config + '.py'
    search_dirs = config_search_dirs()
    relative = name[len('configs/'):] if name.startswith('configs/') else name
    for folder in search_dirs:
        candidate = osp.join(folder, relative)
        if osp.isfile(candidate):
            return osp.abspath(candidate)
    matches: List[str] = []
    if '/' not in relative:
        for folder in search_dirs:
            for path in sorted(glob.glob(osp.join(folder, '**', relative), recursive=True)):
                if '_base_' in osp.relpath(path, folder).split(osp.sep):
                    continue
                if osp.realpath(path) not in map(osp.realpath, matches):
                    matches.append(osp.abspath(path))
    if len(matches) > 1:
        raise ValueError(f'config name {config!r} is ambiguous, it matches {matches}; '
                         'pass one of these paths')
    if not matches:
        raise FileNotFoundError(
            f'config {config!r} is neither a file nor a config name found under '
            f'{search_dirs or "any configs folder (none found)"}')
    return matches[0]


def load_deepmark_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """A new config from a path / name (:func:`resolve_config_path`) or a loaded config
    (copied), with ``Config.merge_from_dict`` overrides ``cfg_options``."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config.fromfile(resolve_config_path(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'config {getattr(cfg, "filename", config)} has no "model" entry')
    return cfg
