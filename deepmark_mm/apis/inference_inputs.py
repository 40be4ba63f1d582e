# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Inference inputs: image lists, image ids and the config's test pipeline made input-agnostic."""
import copy
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.utils.misc import IMG_EXTENSIONS
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

#: Meta keys that only make sense for dataset samples; dropped for inference.
DATASET_ONLY_META_KEYS = ('img_id', 'instances')

LOADER_TYPES = ('LoadImageFromFile', 'mmcv.LoadImageFromFile', 'mmdet.LoadImageFromFile')

ImageInput = Union[str, np.ndarray]


def list_image_inputs(inputs: Union[ImageInput, Sequence[ImageInput]]) -> List[ImageInput]:
    """Expand inferencer inputs (an image path, a folder's image files sorted by name, a BGR
    (H, W, 3) uint8 array, or a list of paths / arrays) into one entry per image.

    Raises:
        FileNotFoundError: For a path that does not exist or a folder without images.
        ValueError: For an array that is not ``(H, W, 3)`` or an input of another type.
    """
    if isinstance(inputs, (str, os.PathLike)):
        path = os.fspath(inputs)
        if osp.isdir(path):
            names = sorted(
                name for name in os.listdir(path)
                if name.lower().endswith(IMG_EXTENSIONS) and osp.isfile(osp.join(path, name)))
            if not names:
                raise FileNotFoundError(f'folder {path} holds no image file ({IMG_EXTENSIONS})')
            return [osp.join(path, name) for name in names]
        items: List[Any] = [path]
    elif isinstance(inputs, np.ndarray):
        items = [inputs]
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
    else:
        raise ValueError(f'inputs must be an image path, a folder, an array or a list of those, '
                         f'got {type(inputs).__name__}')
    checked: List[ImageInput] = []
    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            if not osp.isfile(item):
                raise FileNotFoundError(f'input {index}: image file {os.fspath(item)} not found')
            checked.append(os.fspath(item))
        elif isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3 or min(item.shape[:2]) < 1:
                raise ValueError(f'input {index}: image array has shape {item.shape}, expected '
                                 '(H, W, 3) BGR')
            checked.append(item)
        else:
            raise ValueError(f'input {index} is a {type(item).__name__}, expected an image path '
                             'or an (H, W, 3) array')
    return checked


def assign_image_ids(inputs: Sequence[ImageInput]) -> List[int]:
    """Integer image ids: the file stems when all are unique numbers (DeepFashion2's
    ``000123.jpg`` -> 123), else the 1-based positions in ``inputs``."""
    stems = [
        osp.splitext(osp.basename(item))[0] if isinstance(item, str) else None for item in inputs
    ]
    if stems and all(stem is not None and stem.isdigit() for stem in stems):
        ids = [int(stem) for stem in stems]
        if len(set(ids)) == len(ids):
            return ids
    return list(range(1, len(inputs) + 1))


def image_name(item: ImageInput, img_id: int) -> str:
    """File name used for the outputs of one input (``NNNNNNNN.jpg`` for arrays)."""
    return osp.basename(item) if isinstance(item, str) else f'{img_id:08d}.jpg'


def _adapt_transforms(transforms: List[Any], input_size: Optional[Tuple[int, int]]) -> None:
    """In place: drop dataset-only meta keys and set ``CenterAffine`` sizes, recursively."""
    for transform in transforms:
        if isinstance(transform, list):  # TestTimeAug's list of alternatives
            _adapt_transforms(transform, input_size)
            continue
        if not isinstance(transform, dict):
            continue
        if 'transforms' in transform:
            _adapt_transforms(transform['transforms'], input_size)
        if 'meta_keys' in transform:
            transform['meta_keys'] = tuple(key for key in transform['meta_keys']
                                           if key not in DATASET_ONLY_META_KEYS)
        if input_size is not None and str(transform.get('type', '')).split('.')[-1] == \
                'CenterAffine':
            transform['input_size'] = tuple(input_size)


def build_inference_pipeline(pipeline_cfg: Sequence[dict],
                             input_size: Optional[Tuple[int, int]] = None,
                             where: str = 'test pipeline',
                             scope: str = 'mmdet') -> Compose:
    """The config's test (or TTA) pipeline fed by image paths or arrays: the first
    ``LoadImageFromFile`` becomes mmdet's ``InferencerLoader`` and ``img_id`` / ``instances``
    leave the packed meta keys.

    Args:
        pipeline_cfg (Sequence[dict]): Transform configs.
        input_size (tuple[int, int], optional): ``(w, h)`` forced onto every ``CenterAffine``
            (e.g. the fixed input of an exported network). Defaults to the configured size.
        where (str): Name of the pipeline for errors.
        scope (str): Registry scope the transforms are built in. Defaults to ``'mmdet'``.

    Returns:
        Compose: The pipeline; call it with a path or an array.

    Raises:
        ValueError: When the pipeline has no ``LoadImageFromFile``.
    """
    pipeline_cfg = copy.deepcopy(list(pipeline_cfg))
    loader_index = next((index for index, transform in enumerate(pipeline_cfg)
                         if transform.get('type') in LOADER_TYPES), None)
    if loader_index is None:
        raise ValueError(f'the {where} has no LoadImageFromFile: {pipeline_cfg}')
    pipeline_cfg[loader_index] = dict(pipeline_cfg[loader_index], type='mmdet.InferencerLoader')
    _adapt_transforms(pipeline_cfg, input_size)
    with DefaultScope.overwrite_default_scope(scope):
        return Compose(pipeline_cfg)
