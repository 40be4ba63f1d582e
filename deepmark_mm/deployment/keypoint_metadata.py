# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark set and decode settings an exported graph stores in its ONNX ``metadata_props``.

Landmark keys (JSON values): ``classes`` (C names), ``keypoint_slices`` (C ``[start, end)``
pairs), ``flip_indices`` (K slots), ``sigmas`` (K OKS sigmas) and ``skeletons`` (per class,
pairs of slot ids). A file without them is read as DeepFashion2's.
"""
import json
from typing import Dict, Mapping

import torch.nn as nn
from mmengine.config import Config

from deepmark_mm.datasets.keypoint_metainfo import (config_dataset_metainfo,
                                                    resolve_keypoint_metainfo)

LANDMARK_METADATA_KEYS = ('classes', 'keypoint_slices', 'flip_indices', 'sigmas', 'skeletons')


def decode_settings(codec: nn.Module) -> str:
    """The ``decode_settings`` entry of a codec: ``topk=..,kernel=..,...``."""
    return ','.join(f'{key}={value}' for key, value in codec.decode_settings().items())


def model_keypoint_metainfo(head: nn.Module, cfg: Config, where: str) -> Dict:
    """The config's test dataset landmark metainfo (DeepFashion2's when unset), checked
    against ``head`` (``num_classes``, ``keypoint_slices``); ValueError when they differ."""
    meta = resolve_keypoint_metainfo(config_dataset_metainfo(cfg), f'{where} test dataset metainfo')
    head_slices = [tuple(int(v) for v in s) for s in head.keypoint_slices]
    if len(meta['classes']) != head.num_classes or meta['keypoint_slices'] != head_slices:
        raise ValueError(f'{where}: the landmark metainfo ({len(meta["classes"])} classes, slices '
                         f'{meta["keypoint_slices"]}) differs from the head ({head.num_classes} '
                         f'classes, slices {head_slices}); set test_dataloader.dataset.metainfo')
    return meta


def keypoint_metadata_props(meta: Mapping) -> Dict[str, str]:
    """``metadata_props`` entries (JSON strings) of a checked landmark metainfo."""
    return dict(
        classes=json.dumps(list(meta['classes'])),
        keypoint_slices=json.dumps([list(map(int, s)) for s in meta['keypoint_slices']]),
        flip_indices=json.dumps([int(v) for v in meta['flip_indices']]),
        sigmas=json.dumps([float(v) for v in meta['sigmas']]),
        skeletons=json.dumps([[list(map(int, link)) for link in links]
                              for links in meta['skeletons']]))


def read_keypoint_metadata(metadata: Mapping[str, str], source: str) -> Dict:
    """The checked metainfo stored by :func:`keypoint_metadata_props` (``metadata``: the graph's
    ``custom_metadata_map``; ``source``: the file, for messages); DeepFashion2's without it."""
    if not all(key in metadata for key in LANDMARK_METADATA_KEYS):
        return resolve_keypoint_metainfo(None, source)
    stored = {key: json.loads(metadata[key]) for key in LANDMARK_METADATA_KEYS}
    default = resolve_keypoint_metainfo(None)
    if tuple(stored['classes']) == default['classes'] and \
            [tuple(v) for v in stored['keypoint_slices']] == default['keypoint_slices']:
        default.update(stored)  # DeepFashion2's names, palette, ...
        stored = default
    return resolve_keypoint_metainfo(stored, source)
