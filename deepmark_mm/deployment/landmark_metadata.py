# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark set an exported graph was trained on, stored in its ONNX ``metadata_props``.

Keys (JSON values): ``classes`` (C names), ``keypoint_slices`` (C ``[start, end)`` pairs),
``flip_indices`` (K slots), ``sigmas`` (K OKS sigmas) and ``skeletons`` (per class, pairs of slot
ids). A file without them (exported before they were written) is read as DeepFashion2's.
"""
import json
from typing import Dict, Mapping

import torch.nn as nn
from mmengine.config import Config

from deepmark_mm.datasets.landmark_metainfo import (config_dataset_metainfo,
                                                    resolve_landmark_metainfo)

#: The metadata keys holding the landmark set.
LANDMARK_METADATA_KEYS = ('classes', 'keypoint_slices', 'flip_indices', 'sigmas', 'skeletons')


def model_landmark_metainfo(head: nn.Module, cfg: Config, where: str) -> Dict:
    """The checked landmark metainfo of an exported model: the config's test dataset metainfo
    (DeepFashion2's when it sets none), which must agree with the head.

    Args:
        head (nn.Module): The model's ``DeepMarkHead`` (``num_classes``, ``keypoint_slices``).
        cfg (Config): Its config.
        where (str): The config's name, for the error message.

    Returns:
        dict: See :func:`~deepmark_mm.datasets.landmark_metainfo.check_landmark_metainfo`.

    Raises:
        ValueError: When the metainfo's classes or slot slices differ from the head's.
    """
    meta = resolve_landmark_metainfo(config_dataset_metainfo(cfg), f'{where} test dataset metainfo')
    head_slices = [tuple(int(v) for v in s) for s in head.keypoint_slices]
    if len(meta['classes']) != head.num_classes or meta['keypoint_slices'] != head_slices:
        raise ValueError(f'{where}: the landmark metainfo ({len(meta["classes"])} classes, slices '
                         f'{meta["keypoint_slices"]}) differs from the head ({head.num_classes} '
                         f'classes, slices {head_slices}); set test_dataloader.dataset.metainfo')
    return meta


def landmark_metadata_props(meta: Mapping) -> Dict[str, str]:
    """``metadata_props`` entries (JSON strings) of a checked landmark metainfo."""
    return dict(
        classes=json.dumps(list(meta['classes'])),
        keypoint_slices=json.dumps([list(map(int, s)) for s in meta['keypoint_slices']]),
        flip_indices=json.dumps([int(v) for v in meta['flip_indices']]),
        sigmas=json.dumps([float(v) for v in meta['sigmas']]),
        skeletons=json.dumps([[list(map(int, link)) for link in links]
                              for links in meta['skeletons']]))


def read_landmark_metadata(metadata: Mapping[str, str], source: str) -> Dict:
    """The landmark metainfo stored by :func:`landmark_metadata_props`, DeepFashion2's without it.

    Args:
        metadata (Mapping[str, str]): The graph's ``custom_metadata_map``.
        source (str): The file, for the error message.

    Returns:
        dict: The checked metainfo (``classes``, ``keypoint_slices``, ``flip_indices``, ...).
    """
    if not all(key in metadata for key in LANDMARK_METADATA_KEYS):
        return resolve_landmark_metainfo(None, source)
    stored = {key: json.loads(metadata[key]) for key in LANDMARK_METADATA_KEYS}
    default = resolve_landmark_metainfo(None)
    if tuple(stored['classes']) == default['classes'] and \
            [tuple(v) for v in stored['keypoint_slices']] == default['keypoint_slices']:
        default.update(stored)  # DeepFashion2's names, palette, ...
        stored = default
    return resolve_landmark_metainfo(stored, source)
