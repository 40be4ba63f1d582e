# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The landmark-set description every DeepMark component reads: C categories, category ``c``
owning the slots ``keypoint_slices[c] = [start, end)`` that tile ``[0, K)`` once; DeepFashion2's
(:mod:`.deepfashion2_metainfo`) by default."""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np


def resolve_keypoint_slices(num_classes: int,
                            num_keypoints: int,
                            keypoint_slices: Optional[Sequence[Sequence[int]]] = None,
                            owner: str = 'landmark metainfo') -> List[Tuple[int, int]]:
    """``num_classes`` slices checked by :func:`check_keypoint_slices` to tile
    ``[0, num_keypoints)``; DeepFashion2's when None (a ValueError names ``owner`` if None is
    given for another set)."""
    if keypoint_slices is None:
        from .deepfashion2_metainfo import KEYPOINT_SLICES, NUM_CLASSES, NUM_KEYPOINTS
        if (num_classes, num_keypoints) != (NUM_CLASSES, NUM_KEYPOINTS):
            raise ValueError(
                f'{owner}: keypoint_slices is required when num_classes={num_classes} '
                f'and num_keypoints={num_keypoints} differ from DeepFashion2 '
                f'({NUM_CLASSES}, {NUM_KEYPOINTS})')
        keypoint_slices = KEYPOINT_SLICES
    classes = [f'class {label}' for label in range(num_classes)]
    return check_keypoint_slices(keypoint_slices, num_keypoints, owner, classes)


def check_keypoint_slices(keypoint_slices: Sequence[Sequence[int]],
                          num_keypoints: int,
                          owner: str = 'landmark metainfo',
                          classes: Optional[Sequence[str]] = None,
                          flip_indices: Optional[np.ndarray] = None) -> List[Tuple[int, int]]:
    """The slices as ``(start, end)`` tuples, checked to tile the K = ``num_keypoints`` slots
    exactly once (one per name of ``classes`` when given) with every pair of the (K,)
    ``flip_indices`` (when given) inside one category; a ValueError names ``owner`` and the first
    gap, overlap or crossing pair."""
    try:
        slices = [tuple(int(v) for v in s) for s in keypoint_slices]
    except (TypeError, ValueError) as error:
        raise ValueError(f'{owner}: keypoint_slices must be [start, end) integer pairs '
                         f'({error})') from error
    names = [f'class {label}' for label in range(len(slices))] if classes is None else classes
    if len(slices) != len(names) or any(len(s) != 2 or s[0] >= s[1] for s in slices):
        raise ValueError(f'{owner}: keypoint_slices must hold one [start, end) pair with '
                         f'start < end per class ({len(names)}), got {slices}')

    def name(label: Optional[int]) -> str:
        return 'the start' if label is None else f'{names[label]} {slices[label]}'

    problem, previous, covered = '', None, 0
    for label in sorted(range(len(slices)), key=slices.__getitem__):
        start, end = slices[label]
        if start > covered:
            problem = (f'slots [{covered}, {start}) between {name(previous)} and {name(label)} '
                       'belong to no category')
        elif start < covered:
            problem = (f'{name(label)} starts before slot 0' if previous is None else
                       f'slots [{start}, {min(covered, end)}) belong to both {name(previous)} '
                       f'and {name(label)}')
        if problem:
            break
        previous, covered = label, end
    else:
        if covered != num_keypoints:
            problem = (f'slots [{covered}, {num_keypoints}) after {name(previous)} belong to no '
                       'category' if covered < num_keypoints else
                       f'{name(previous)} ends past the last slot {num_keypoints - 1}')
    if problem:
        raise ValueError(f'{owner}: keypoint_slices must tile the {num_keypoints} slots '
                         f'[0, {num_keypoints}) exactly once: {problem}')
    if flip_indices is not None:
        flip, owners = np.asarray(flip_indices, dtype=np.int64), keypoint_owner(slices)
        crossing = np.flatnonzero(owners[flip] != owners)
        if len(crossing):
            slot = int(crossing[0])
            raise ValueError(f'{owner}: flip pair ({slot}, {flip[slot]}) crosses categories '
                             f'{names[owners[slot]]} and {names[owners[flip[slot]]]}')
    return slices


def check_flip_indices(flip_indices: Sequence[int], num_slots: Optional[int],
                       owner: str) -> np.ndarray:
    """``flip_indices`` as (K,) int64, checked to be a permutation of the K slots (``num_slots``,
    or its length when None) that is its own inverse; errors name ``owner``."""
    flip = np.asarray(flip_indices, dtype=np.int64)
    num = flip.size if num_slots is None else num_slots
    if flip.shape != (num, ) or not np.array_equal(np.sort(flip), np.arange(num)):
        raise ValueError(f'{owner}: flip_indices must be a permutation of the {num} slots, got '
                         f'{flip.tolist()}')
    if not np.array_equal(flip[flip], np.arange(num)):
        raise ValueError(f'{owner}: flip_indices must be its own inverse (flip pairs), got '
                         f'{flip.tolist()}')
    return flip


def slot_count(keypoint_slices: Sequence[Sequence[int]]) -> int:
    """K, the number of slots that checked ``[start, end)`` slices tile (the largest end)."""
    return max(int(end) for _, end in keypoint_slices)


def category_keypoint_mask(num_keypoints: int,
                           keypoint_slices: Sequence[Sequence[int]]) -> np.ndarray:
    """(num_classes, num_keypoints) bool, row ``c`` true on category ``c``'s ``[start, end)``."""
    mask = np.zeros((len(keypoint_slices), num_keypoints), dtype=bool)
    for label, (start, end) in enumerate(keypoint_slices):
        mask[label, start:end] = True
    return mask


#: Keys every landmark metainfo holds once checked (:func:`check_keypoint_metainfo`).
KEYPOINT_METAINFO_KEYS = ('classes', 'keypoint_slices', 'flip_indices', 'sigmas', 'skeletons')


def check_keypoint_metainfo(metainfo: Mapping, source: str = 'landmark metainfo') -> Dict:
    """A checked copy of a landmark metainfo (schema: docs/architecture.md; other keys kept).

    Returns ``classes`` a tuple, ``keypoint_slices`` ``(start, end)`` pairs tiling the K slots,
    ``num_keypoints`` K, ``flip_indices`` (K,) int64 (a self-inverse permutation inside
    categories), ``sigmas`` (K,) positive float64, ``skeletons`` C lists of in-class ``(a, b)``
    links (empty when absent); a ValueError names ``source`` and the broken rule.
    """
    meta = dict(metainfo)
    missing = [key for key in KEYPOINT_METAINFO_KEYS[:4] if meta.get(key) is None]
    if missing:
        raise ValueError(f'{source}: missing {missing} (a landmark metainfo needs '
                         f'{list(KEYPOINT_METAINFO_KEYS)})')
    classes = tuple(str(name) for name in meta['classes'])
    flip = check_flip_indices(np.asarray(meta['flip_indices']).reshape(-1), None, source)
    num_keypoints = flip.size
    slices = check_keypoint_slices(meta['keypoint_slices'], num_keypoints, source, classes, flip)
    sigmas = np.asarray(meta['sigmas'], dtype=np.float64).reshape(-1)
    if sigmas.shape != (num_keypoints, ) or not (np.isfinite(sigmas) & (sigmas > 0)).all():
        raise ValueError(f'{source}: sigmas must be {num_keypoints} positive OKS sigmas (one per '
                         f'slot), got {sigmas.size}')
    skeletons = meta.get('skeletons')
    skeletons = [[] for _ in classes] if skeletons is None else [
        [tuple(int(v) for v in link) for link in links] for links in skeletons]
    if len(skeletons) != len(classes):
        raise ValueError(f'{source}: skeletons must hold one link list per class '
                         f'({len(classes)}), got {len(skeletons)}')
    for label, links in enumerate(skeletons):
        start, end = slices[label]
        outside = [link for link in links
                   if len(link) != 2 or not all(start <= v < end for v in link)]
        if outside:
            raise ValueError(f'{source}: skeleton links {outside} of {classes[label]} leave its '
                             f'slots [{start}, {end})')
    meta.update(classes=classes, keypoint_slices=slices, num_keypoints=num_keypoints,
                flip_indices=flip, sigmas=sigmas, skeletons=skeletons)
    return meta


def resolve_keypoint_metainfo(metainfo: Optional[Mapping] = None,
                              source: str = 'landmark metainfo') -> Dict:
    """:func:`check_keypoint_metainfo` of ``metainfo`` (a dataset's metainfo / ``dataset_meta``
    / config ``keypoint_meta``); None, or one without ``keypoint_slices``, means DeepFashion2's
    (:func:`~.deepfashion2_metainfo.get_deepfashion2_metainfo`) updated by its non-None keys."""
    if metainfo is None or metainfo.get('keypoint_slices') is None:
        from .deepfashion2_metainfo import get_deepfashion2_metainfo
        merged = get_deepfashion2_metainfo()
        merged.update({k: v for k, v in (metainfo or {}).items() if v is not None})
        metainfo = merged
    return check_keypoint_metainfo(metainfo, source)


def keypoint_owner(keypoint_slices: Sequence[Sequence[int]]) -> np.ndarray:
    """(K,) int64: the category (label) owning each slot of slices tiling ``[0, K)``."""
    return category_keypoint_mask(slot_count(keypoint_slices), keypoint_slices).argmax(0)


def leaf_dataset_configs(dataset: dict) -> List[dict]:
    """The dataset configs that hold pipelines, through wrappers (``dataset``) and concatenations
    (``datasets``), in order; the objects themselves, to read or set their ``pipeline``."""
    if 'dataset' in dataset:
        return leaf_dataset_configs(dataset['dataset'])
    if 'datasets' in dataset:
        return [leaf for part in dataset['datasets'] for leaf in leaf_dataset_configs(part)]
    return [dataset]


def config_test_pipeline(cfg: Mapping) -> List[dict]:
    """The pipeline of the config's (first) test dataset, through wrappers and concatenations."""
    return leaf_dataset_configs(cfg['test_dataloader']['dataset'])[0]['pipeline']


def config_flip_indices(cfg: Mapping) -> Optional[List[int]]:
    """A config's flip pairs: its ``tta_model``'s, else its test dataset metainfo's; None for
    DeepFashion2's (every consumer's default)."""
    flip = (cfg.get('tta_model', None) or {}).get('flip_indices', None)
    if flip is None:
        flip = (config_dataset_metainfo(cfg) or {}).get('flip_indices', None)
        from .deepfashion2_metainfo import flip_indices as deepfashion2_flip_indices
        if flip is not None and np.array_equal(flip, deepfashion2_flip_indices()):
            flip = None
    return None if flip is None else [int(slot) for slot in flip]


def config_dataset_metainfo(cfg: Mapping) -> Optional[dict]:
    """The config's (first) test dataset's ``metainfo``, completed by its dataset class (e.g.
    ``FLDDataset``'s landmark set); None when neither gives one."""
    from mmdet.registry import DATASETS
    leaves = leaf_dataset_configs(cfg.get('test_dataloader', {}).get('dataset', {}))
    leaf = leaves[0] if leaves else {}
    metainfo = leaf.get('metainfo', None)
    metainfo = None if metainfo is None else dict(metainfo)
    dataset_class = DATASETS.get(leaf['type']) if isinstance(leaf.get('type'), str) else None
    if dataset_class is not None and hasattr(dataset_class, '_load_metainfo'):
        return dict(dataset_class._load_metainfo(metainfo))
    return metainfo
