# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The config's test pipeline made input-agnostic: fed by image paths or BGR arrays."""
import copy
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

#: Meta keys that only make sense for dataset samples; dropped for inference.
DATASET_ONLY_META_KEYS = ('img_id', 'instances')

LOADER_TYPES = ('LoadImageFromFile', 'mmcv.LoadImageFromFile', 'mmdet.LoadImageFromFile')


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
    ``LoadImageFromFile`` becomes mmdet's ``InferencerLoader``, ``img_id`` / ``instances`` leave
    the packed meta keys, and ``input_size`` ``(w, h)`` (e.g. an exported network's) is forced
    onto every ``CenterAffine``; ``where`` names the pipeline in errors.
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
