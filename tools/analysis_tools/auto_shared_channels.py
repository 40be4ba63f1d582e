#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Compute the automatic slot -> shared channel table from DeepFashion2 training annotations.

    python tools/analysis_tools/auto_shared_channels.py ANNOTATIONS --out table.json
        [--threshold 0.1] [--min-count 1] [--visible-only] [--out-py table.py]

ANNOTATIONS is a COCO-layout json (what ``deepfashion2_to_coco.py`` or
``tools/dataset_converters`` write), a per-image annotation folder (``annos/``, one json per
image) or one per-image json. Every annotation is read and checked by the project's DeepFashion2
readers. The grouping
(:func:`greedy_position_channels`): per-slot mean position normalised by the
garment box, pooled with the flip partner's mirrored mean, then greedy merging of the closest
groups below ``--threshold`` (box-normalised distance), never two slots of one category in one
group, mirror groups merged together. Prints G and the groups; writes the table as json
(``load_channel_table``) and, with ``--out-py``, as a config fragment defining
``kpt_heatmap_channels`` (see ``configs/_base_/channel_tables/``).
"""
import argparse
import json
import os
import os.path as osp
import sys
import textwrap
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'dataset_converters'))
from deepfashion2_to_coco import (list_annotation_files,  # noqa: E402
                                  raw_item_to_coco_annotation, sorted_item_keys)
from deepmark_mm.datasets.keypoint_coco_dataset import load_json_file  # noqa: E402
from deepmark_mm.datasets.keypoint_metainfo import keypoint_owner  # noqa: E402
from deepmark_mm.datasets.shared_channel_table import (KeypointChannelTable,  # noqa: E402
                                                       check_channel_table)

# "Efficient grouping for keypoint detection" (arXiv 2010.12390) merges keypoints of different
# categories at the same place of the object. Here: per slot, the mean box-normalised position
# (:func:`keypoint_position_statistics`), pooled with its flip partner's mirror
# (:func:`mirror_pooled_statistics`); then (:func:`greedy_position_channels`) the two closest groups
# are merged while closer than ``threshold`` (box-normalised units) and allowed: no category in
# common, and both or neither their own mirror (not each other's), their mirrors merged in the same
# step so the result is flip-consistent. Slots labelled fewer than ``min_count`` times stay alone;
# channels are numbered by each group's smallest slot.


def keypoint_position_statistics(instances: Iterable[dict], num_keypoints: int,
                                 visible_only: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(J, 2) float64 mean box-normalised (x, y) (0 where never labelled) and (J,) int64 counts
    over dataset ``instances`` (:func:`read_instances`), of
    landmarks with v in {1, 2} (v = 2 with ``visible_only``)."""
    sums = np.zeros((num_keypoints, 2), dtype=np.float64)
    counts = np.zeros(num_keypoints, dtype=np.int64)
    for instance in instances:
        x1, y1, x2, y2 = (float(v) for v in instance['bbox'])
        visible = np.asarray(instance['keypoints_visible'])
        labelled = visible == 2 if visible_only else visible > 0
        points = np.asarray(instance['keypoints'], dtype=np.float64)
        normalised = (points - [x1, y1]) / [x2 - x1, y2 - y1]
        sums[labelled] += normalised[labelled]
        counts += labelled
    means = sums / np.maximum(counts, 1)[:, None]
    return means, counts


def mirror_pooled_statistics(means: np.ndarray, counts: np.ndarray,
                             flip_indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """(J, 2) ``means`` and (J,) ``counts`` pooled with each flip partner's, mirrored (``x ->
    1 - x``): ``pooled[flip[j]] == (1 - pooled[j, 0], pooled[j, 1])``."""
    flip = np.asarray(flip_indices, dtype=np.int64)
    mirrored = means[flip].copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    total = counts + counts[flip]
    pooled = (means * counts[:, None] + mirrored * counts[flip][:, None]) / np.maximum(
        total, 1)[:, None]
    return pooled, total


def greedy_position_channels(means: np.ndarray,
                             counts: np.ndarray,
                             keypoint_slices: Sequence[Sequence[int]],
                             flip_indices: Sequence[int],
                             threshold: float,
                             min_count: int = 1,
                             source: str = 'automatic channel table') -> KeypointChannelTable:
    """The checked table of greedy closest-pair merging (module docstring) of the mirror-pooled
    (J, 2) ``means`` and (J,) ``counts``."""
    flip = np.asarray(flip_indices, dtype=np.int64)
    num_slots = len(flip)
    owner = keypoint_owner(keypoint_slices)
    # group state, indexed by the group's id (its first slot); inactive groups are masked out
    group_of = np.arange(num_slots)
    categories = np.zeros((num_slots, len(keypoint_slices)), dtype=bool)
    categories[np.arange(num_slots), owner] = True
    weight = counts.astype(np.float64)
    position_sum = means * weight[:, None]
    mergeable = counts >= min_count

    def merge(keep: int, gone: int) -> None:
        group_of[group_of == gone] = keep
        categories[keep] |= categories[gone]
        position_sum[keep] += position_sum[gone]
        weight[keep] += weight[gone]
        mergeable[gone] = False

    while True:
        ids = np.flatnonzero(mergeable)
        if ids.size < 2:
            break
        centre = position_sum[ids] / weight[ids, None]
        distance = np.linalg.norm(centre[:, None] - centre[None], axis=-1)
        mirror = group_of[flip[ids]]
        self_mirror = mirror == ids
        allowed = ~(categories[ids].astype(np.int64) @ categories[ids].T.astype(np.int64)
                    ).astype(bool)
        allowed &= self_mirror[:, None] == self_mirror[None, :]
        allowed &= mirror[:, None] != ids[None, :]
        allowed &= np.triu(np.ones_like(allowed), k=1)
        allowed &= distance < threshold
        if not allowed.any():
            break
        flat = int(np.argmin(np.where(allowed, distance, np.inf)))
        a, b = (int(ids[i]) for i in np.unravel_index(flat, allowed.shape))
        mirror_a, mirror_b = int(group_of[flip[a]]), int(group_of[flip[b]])
        merge(min(a, b), max(a, b))
        if mirror_a != a:
            merge(min(mirror_a, mirror_b), max(mirror_a, mirror_b))
    roots, slot_to_channel = np.unique(group_of, return_inverse=True)
    table = KeypointChannelTable(slot_to_channel.astype(np.int64), int(roots.size),
                                 tuple(f'group_of_slot_{int(r)}' for r in roots), source)
    check_channel_table(table, keypoint_slices, flip)
    return table


def read_instances(path: str) -> Iterator[dict]:
    """Yield the checked dataset instance of every garment of a COCO json or per-image folder.

    Args:
        path (str): COCO-layout json file, one per-image json file, or a folder of per-image
            ``NNNNNN.json`` files.

    Yields:
        dict: :func:`coco_annotation_to_instance` output.

    Raises:
        DeepFashion2FormatError: Naming the file and item of a bad annotation.
        FileNotFoundError: When ``path`` does not exist.
    """
    from deepmark_mm.datasets.deepfashion2_format import (DeepFashion2FormatError,
                                                          coco_annotation_to_instance)

    def per_image_items(anno_path: str, anno: object) -> Iterator[dict]:
        if not isinstance(anno, dict):
            raise DeepFashion2FormatError(f'{anno_path}: top level is not an object')
        for key in sorted_item_keys(anno, anno_path):
            where = f'{anno_path}: {key}'
            yield coco_annotation_to_instance(
                raw_item_to_coco_annotation(anno[key], where, 0, 0), where)

    if osp.isdir(path):
        for anno_path in list_annotation_files(path):
            yield from per_image_items(anno_path, load_json_file(anno_path))
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such annotation file or folder')
    data = load_json_file(path)
    if not (isinstance(data, dict) and 'annotations' in data):
        yield from per_image_items(path, data)
        return
    if not isinstance(data['annotations'], list):
        raise DeepFashion2FormatError(f'{path}: "annotations" is not a list')
    for index, annotation in enumerate(data['annotations']):
        annotation_id = annotation.get('id', index) if isinstance(annotation, dict) else index
        yield coco_annotation_to_instance(annotation, f'{path}: annotation {annotation_id}')


def save_channel_table(table: KeypointChannelTable, path: str) -> None:
    """Write ``table`` as json (``load_channel_table`` reads it back)."""
    with open(path, 'w', encoding='utf-8') as file:
        json.dump(table.to_dict(), file, indent=1)


def group_lines(table, keypoint_names: Sequence[str]) -> List[str]:
    """One line per channel: its id and the names of its slots."""
    return [f'{g:3d}: ' + ' '.join(keypoint_names[s]
                                   for s in np.flatnonzero(table.slot_to_channel == g))
            for g in range(table.num_channels)]


def write_python(table, path: str) -> None:
    """Write the table as a config fragment: ``kpt_heatmap_channels = dict(...)`` (the fields of
    the json form), which a config lists in ``_base_`` and passes to
    ``model.bbox_head.kpt_heatmap_channels``."""
    def wrapped(values) -> str:
        return textwrap.fill(', '.join(values), width=96, initial_indent=' ' * 8,
                             subsequent_indent=' ' * 8)

    data = table.to_dict()
    with open(path, 'w', encoding='utf-8') as file:
        file.write('# Copyright (c) deepmark_mm contributors. All rights reserved.\n'
                   '# Written by tools/analysis_tools/auto_shared_channels.py.\n'
                   'kpt_heatmap_channels = dict(\n'
                   f'    source={data["source"]!r},\n'
                   f'    num_channels={data["num_channels"]},\n'
                   '    slot_to_channel=[\n'
                   f'{wrapped(str(g) for g in data["slot_to_channel"])}\n    ],\n'
                   '    channel_names=[\n'
                   f'{wrapped(repr(n) for n in data["channel_names"])}\n    ])\n')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('annotations', help='COCO-layout json or per-image annos/ folder')
    parser.add_argument('--out', required=True, help='table json to write')
    parser.add_argument('--out-py', help='also write the table as a python module')
    parser.add_argument('--threshold', type=float, default=0.1,
                        help='largest merge distance, in box-normalised units (default 0.1)')
    parser.add_argument('--min-count', type=int, default=1,
                        help='slots labelled fewer times (with their mirror) stay alone')
    parser.add_argument('--visible-only', action='store_true',
                        help='use only visible (v = 2) landmarks for the statistics')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None):
    """Run the tool; returns the table."""
    args = parse_args(argv)
    from deepmark_mm.datasets.deepfashion2_metainfo import (KEYPOINT_SLICES, NUM_KEYPOINTS,
                                                            flip_indices, keypoint_names)
    means, counts = keypoint_position_statistics(
        read_instances(args.annotations), NUM_KEYPOINTS, visible_only=args.visible_only)
    if not counts.any():
        raise ValueError(f'{args.annotations}: no labelled landmark to group')
    pooled, pooled_counts = mirror_pooled_statistics(means, counts, flip_indices())
    source = (f'automatic grouping of {osp.basename(osp.normpath(args.annotations))} '
              f'(threshold {args.threshold}, min_count {args.min_count}'
              f'{", visible only" if args.visible_only else ""})')
    table = greedy_position_channels(pooled, pooled_counts, KEYPOINT_SLICES, flip_indices(),
                                     args.threshold, args.min_count, source)
    print(f'{source}: {NUM_KEYPOINTS} slots -> G = {table.num_channels} channels '
          f'({int((counts > 0).sum())} slots labelled)')
    print('\n'.join(group_lines(table, keypoint_names())))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    save_channel_table(table, args.out)
    if args.out_py:
        write_python(table, args.out_py)
    return table


if __name__ == '__main__':
    main()
