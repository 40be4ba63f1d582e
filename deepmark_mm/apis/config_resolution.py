# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Find and load a DeepMark config the way mmdet users expect: a path or a config file name."""
import copy
import glob
import os.path as osp
from typing import List, Optional, Union

from mmengine.config import Config

import deepmark_mm

#: Folders searched for config names, in order: the checkout's ``configs/`` and the installed
#: package's ``.mim/configs`` (what ``mim`` uses).
_PACKAGE_DIR = osp.dirname(osp.abspath(deepmark_mm.__file__))


def config_search_dirs() -> List[str]:
    """Existing folders that hold the package's configs.

    Returns:
        list[str]: Absolute paths, the checkout's ``configs/`` first.
    """
    candidates = [
        osp.join(osp.dirname(_PACKAGE_DIR), 'configs'),
        osp.join(_PACKAGE_DIR, '.mim', 'configs'),
    ]
    found: List[str] = []
    for folder in candidates:
        if osp.isdir(folder) and osp.realpath(folder) not in map(osp.realpath, found):
            found.append(folder)
    return found


def resolve_config_path(config: str) -> str:
    """Path of a config given as a path or as a name found under the package's configs.

    Accepted forms: an existing file path; a path relative to a ``configs`` folder
    (``'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'``, with or without a leading
    ``configs/``); a bare file name with or without ``.py`` (``'deepmark_dla34_512'``), searched
    recursively, ``_base_`` folders excluded; a file without extension is taken as the config name
    it is called (the config ids of an installed package, ``deepmark_mm/.mim/ids/``).

    Args:
        config (str): The path or name.

    Returns:
        str: Absolute path of the config file.

    Raises:
        FileNotFoundError: When nothing matches (the message names the folders searched).
        ValueError: When a bare name matches several files (they are listed).
    """
    if osp.isfile(config) and osp.splitext(config)[1]:
        return osp.abspath(config)
    if osp.isfile(config):  # deepmark_mm/.mim/ids/<config id>: what `mim train PKG <id>` passes
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
    """Load a config (see :func:`resolve_config_path`) and merge overrides.

    Args:
        config (str | Config): Path, config name or an already loaded config (copied).
        cfg_options (dict, optional): ``Config.merge_from_dict`` overrides, e.g.
            ``{'model.test_cfg.topk': 20}``.

    Returns:
        Config: A new config object.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config.fromfile(resolve_config_path(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'config {getattr(cfg, "filename", config)} has no "model" entry')
    return cfg
