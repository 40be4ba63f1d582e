# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Refuse a run whose model and datasets describe different landmark sets."""
from itertools import zip_longest
from typing import Dict, Mapping, Optional

import numpy as np
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import BaseLoop

from deepmark_mm.datasets.keypoint_metainfo import resolve_keypoint_metainfo


def keypoint_set_difference(head, metainfo: Mapping,
                            flip_indices: Optional[np.ndarray] = None) -> Optional[str]:
    """The first difference (None: none) between a head's landmark set (``num_classes``,
    ``keypoint_slices``, ``num_keypoints``) and a dataset's metainfo: ``classes``,
    ``keypoint_slices`` and ``flip_indices`` against the model's (K,), when given."""
    classes = tuple(metainfo.get('classes') or ())
    if classes and len(classes) != head.num_classes:
        return f'{len(classes)} classes {classes} vs num_classes={head.num_classes}'
    slices = metainfo.get('keypoint_slices')
    if slices is not None:
        ours = [tuple(int(v) for v in s) for s in head.keypoint_slices]
        theirs = [tuple(int(v) for v in s) for s in slices]
        if theirs != ours:
            label, (a, b) = next((c, pair) for c, pair in enumerate(zip_longest(theirs, ours))
                                 if pair[0] != pair[1])
            name = classes[label] if label < len(classes) else f'class {label}'
            return (f'{name} owns slots {a} in the dataset and {b} in the head '
                    f'(num_keypoints={head.num_keypoints})')
    theirs = metainfo.get('flip_indices')
    if flip_indices is not None and theirs is not None:
        theirs, ours = np.asarray(theirs).reshape(-1), np.asarray(flip_indices).reshape(-1)
        if theirs.shape != ours.shape:
            return f'{theirs.size} flip_indices in the dataset and {ours.size} in the model'
        slots = np.flatnonzero(theirs != ours)
        if len(slots):
            slot = int(slots[0])
            return (f'slot {slot} flips to {int(theirs[slot])} in the dataset and to '
                    f'{int(ours[slot])} in the model')
    return None


def head_keypoint_metainfo(head, metainfo: Optional[Mapping], source: str) -> Dict:
    """``metainfo`` resolved (:func:`resolve_keypoint_metainfo`: DeepFashion2's without
    ``keypoint_slices``); a ValueError naming ``source`` when it is not ``head``'s (None: any)
    landmark set."""
    classes = tuple((metainfo or {}).get('classes') or ())
    if head is not None and classes and len(classes) != head.num_classes:
        # before resolving, which would give these classes DeepFashion2's slots
        raise ValueError(f'{source} has classes {classes}, but the model\'s head '
                         f'has {head.num_classes}')
    meta = resolve_keypoint_metainfo(metainfo, f'{source} dataset_meta')
    difference = head is not None and keypoint_set_difference(head, meta)
    if difference:
        raise ValueError(f'{source}: its landmark set is not the model head\'s: {difference}')
    return meta


@HOOKS.register_module()
class KeypointSetCheckHook(Hook):
    """Before a run: the model's landmark set (head, a TTA model's ``flip_indices``) must be
    that of every dataset the run built; ``ValueError`` names the first difference. Models
    without a landmark head and datasets without landmark metainfo pass.

    Example:
        >>> default_hooks = dict(keypoint_set_check=dict(type='KeypointSetCheckHook'))
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        flip_indices = getattr(model, 'flip_indices', None)
        if isinstance(model, BaseTTAModel):
            model = model.module
        head = getattr(model, 'bbox_head', None)
        if getattr(head, 'keypoint_slices', None) is None:
            return
        for split in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{split}_loop', None)
            dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
            metainfo = getattr(dataset, 'metainfo', None)
            if not isinstance(loop, BaseLoop) or not isinstance(metainfo, Mapping):
                continue
            difference = keypoint_set_difference(head, metainfo, flip_indices)
            if difference:
                raise ValueError(
                    f'KeypointSetCheckHook: the model and {split}_dataloader.dataset '
                    f'({type(dataset).__name__} metainfo) describe different landmark sets: '
                    f'{difference}. Give both the same landmark metainfo (e.g. one keypoint_meta '
                    'dict, as configs/deepmark/deepmark_toy-landmarks_example.py)')
