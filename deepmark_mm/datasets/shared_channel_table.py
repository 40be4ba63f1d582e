# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Slot -> shared heatmap channel tables (J slots onto G channels): the type, its checks, its flip
permutation, its json file (``{"num_channels": G, "slot_to_channel": [...], "channel_names":
[...], "source": "..."}``) and the semantic DeepFashion2 table (tables by position:
``tools/analysis_tools/auto_shared_channels.py``)."""
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES
from .deepfashion2_metainfo import flip_indices as deepfashion2_flip_indices
from .keypoint_metainfo import check_flip_indices, slot_count


@dataclass(frozen=True)
class KeypointChannelTable:
    """The (J,) int64 ``slot_to_channel`` of G ``num_channels`` with G ``channel_names``
    (``'channel_<g>'`` when not given) and the ``source`` that made it (for messages)."""
    slot_to_channel: np.ndarray
    num_channels: int
    channel_names: Tuple[str, ...] = ()
    source: str = ''

    def __post_init__(self) -> None:
        table = np.asarray(self.slot_to_channel)
        if table.ndim != 1 or not np.issubdtype(table.dtype, np.integer):
            raise ValueError(f'{self.source or "channel table"}: slot_to_channel must be a 1-D '
                             f'integer array, got {table.dtype} of shape {table.shape}')
        table = table.astype(np.int64)
        table.setflags(write=False)
        object.__setattr__(self, 'slot_to_channel', table)
        names = tuple(self.channel_names) or tuple(f'channel_{g}' for g in range(self.num_channels))
        if len(names) != self.num_channels:
            raise ValueError(f'{self.source or "channel table"}: {len(names)} channel names for '
                             f'{self.num_channels} channels')
        object.__setattr__(self, 'channel_names', names)

    @property
    def num_slots(self) -> int:
        """J."""
        return int(self.slot_to_channel.shape[0])

    def to_dict(self) -> Dict:
        """The json form (see the module docstring)."""
        return dict(num_channels=int(self.num_channels),
                    slot_to_channel=[int(g) for g in self.slot_to_channel],
                    channel_names=list(self.channel_names), source=self.source)


def check_channel_table(table: KeypointChannelTable,
                        keypoint_slices: Sequence[Sequence[int]],
                        flip_indices: Optional[Sequence[int]] = None) -> None:
    """A ValueError naming ``table.source`` and the offending slots / channels unless every
    channel is used, the slots of one category use distinct channels and (``flip_indices`` given)
    all slots of one channel flip into one channel."""
    where = table.source or 'channel table'
    num_slots = slot_count(keypoint_slices)
    channels = table.slot_to_channel
    if table.num_slots != num_slots:
        raise ValueError(f'{where}: maps {table.num_slots} slots, the landmark set has '
                         f'{num_slots}')
    bad = np.flatnonzero((channels < 0) | (channels >= table.num_channels))
    if bad.size:
        raise ValueError(f'{where}: slots {bad.tolist()[:10]} map to channels '
                         f'{channels[bad].tolist()[:10]} outside [0, {table.num_channels})')
    unused = np.setdiff1d(np.arange(table.num_channels), channels)
    if unused.size:
        raise ValueError(f'{where}: channels {unused.tolist()[:10]} are used by no slot')
    for label, (start, end) in enumerate(keypoint_slices):
        own = channels[start:end]
        values, counts = np.unique(own, return_counts=True)
        if (counts > 1).any():
            shared = int(values[counts > 1][0])
            slots = (start + np.flatnonzero(own == shared)).tolist()
            raise ValueError(f'{where}: slots {slots} of category {label} share channel '
                             f'{shared} ({table.channel_names[shared]}); a detection must read '
                             'each of its slots from a distinct channel')
    if flip_indices is not None:
        channel_flip_indices(table, flip_indices)


def channel_flip_indices(table: KeypointChannelTable, flip_indices: Sequence[int]) -> np.ndarray:
    """(G,) int64 ``p`` with ``p[table[j]] == table[flip_indices[j]]`` for every slot ``j``; a
    ValueError when (J,) ``flip_indices`` is no involution or two slots of one channel flip into
    different channels (naming both)."""
    where = table.source or 'channel table'
    num_slots = table.num_slots
    flip = check_flip_indices(flip_indices, num_slots, where)
    channels = table.slot_to_channel
    permutation = np.full(table.num_channels, -1, dtype=np.int64)
    first_slot = np.full(table.num_channels, -1, dtype=np.int64)
    for slot in range(num_slots):
        channel, mirrored = int(channels[slot]), int(channels[flip[slot]])
        if permutation[channel] < 0:
            permutation[channel], first_slot[channel] = mirrored, slot
        elif permutation[channel] != mirrored:
            other = int(first_slot[channel])
            raise ValueError(
                f'{where}: not flip-consistent: slots {other} and {slot} share channel {channel} '
                f'({table.channel_names[channel]}) but flip into slots {int(flip[other])} '
                f'(channel {int(permutation[channel])}) and {int(flip[slot])} '
                f'(channel {mirrored})')
    return permutation


def _table_from_fields(data: Dict, source: str) -> KeypointChannelTable:
    """A table from its json fields (named ``source`` when they name none); a ValueError names
    ``source`` for missing or malformed fields."""
    try:
        return KeypointChannelTable(
            slot_to_channel=np.asarray(data['slot_to_channel']),
            num_channels=int(data['num_channels']),
            channel_names=tuple(data.get('channel_names', ())),
            source=str(data.get('source') or source))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{source}: not a landmark channel table: {error}') from error


def load_channel_table(path: str) -> KeypointChannelTable:
    """Read a json table (``tools/analysis_tools/auto_shared_channels.py``'s
    ``save_channel_table``; a ValueError names a bad ``path``)."""
    with open(path, 'r', encoding='utf-8') as file:
        return _table_from_fields(json.load(file), path)


def build_channel_table(spec: Union[KeypointChannelTable, str, Dict],
                        keypoint_slices: Sequence[Sequence[int]],
                        flip_indices: Optional[Sequence[int]] = None) -> KeypointChannelTable:
    """A table checked by :func:`check_channel_table` from a config's ``spec``: a table,
    ``'semantic'`` (DeepFashion2's), a json path (e.g. from
    ``tools/analysis_tools/auto_shared_channels.py``) or a dict of its json fields."""
    if isinstance(spec, KeypointChannelTable):
        table = spec
    elif spec == 'semantic':
        table = deepfashion2_semantic_channel_table()
    elif isinstance(spec, str):
        table = load_channel_table(spec)
    elif isinstance(spec, dict):
        table = _table_from_fields(spec, 'channel table dict')
    else:
        raise ValueError(f'channel table: expected a KeypointChannelTable, "semantic", a json '
                         f'path or a dict, got {type(spec).__name__}')
    check_channel_table(table, keypoint_slices, flip_indices)
    return table


# Semantic table (DeepMark++, arXiv 2006.00710): one channel per meaning of a garment point; the
# meanings and how they were read: docs/shared_heatmaps.md. Local 1-based numbers of the left side
# and self-mirrored points; a left point's flip partner gets the mirrored channel.
_NECKLINE = {1: 'neck_back_centre', 2: 'neck_side', 3: 'neck_front_side', 4: 'neck_front_centre'}
_SHORT_SLEEVE_SIDE = {
    7: 'shoulder', 8: 'sleeve_outer_middle', 9: 'cuff_outer', 10: 'cuff_inner',
    11: 'sleeve_inner_middle', 12: 'armpit', 13: 'top_side_chest', 14: 'side_waist',
    15: 'hem_corner', 16: 'hem_centre'}
_LONG_SLEEVE_SIDE = {
    7: 'shoulder', 8: 'long_sleeve_outer_upper', 9: 'sleeve_outer_middle',
    10: 'long_sleeve_outer_lower', 11: 'cuff_outer', 12: 'cuff_inner',
    13: 'long_sleeve_inner_lower', 14: 'sleeve_inner_middle', 15: 'long_sleeve_inner_upper',
    16: 'armpit', 17: 'top_side_chest', 18: 'side_waist', 19: 'hem_corner', 20: 'hem_centre'}
_SLEEVELESS_TOP_SIDE = {7: 'shoulder', 8: 'armpit', 9: 'side_waist', 10: 'hem_corner',
                        11: 'hem_centre'}
_SLEEVELESS_DRESS_SIDE = {7: 'shoulder', 8: 'armpit', 9: 'sleeveless_dress_side_1',
                          10: 'sleeveless_dress_side_2', 11: 'sleeveless_dress_side_3',
                          12: 'hem_corner', 13: 'hem_centre'}
_BOTTOM_WAIST = {1: 'waistband_side', 2: 'waistband_centre', 4: 'hip_side'}


def _dress_side(sleeve: Dict[int, str]) -> Dict[int, str]:
    """A sleeved top's side chain up to the armpit, then four dress side points and the hem."""
    armpit = next(k for k, v in sleeve.items() if v == 'armpit')
    side = {k: v for k, v in sleeve.items() if k <= armpit}
    side.update({armpit + i: f'sleeved_dress_side_{i}' for i in range(1, 5)})
    side.update({armpit + 5: 'hem_corner', armpit + 6: 'hem_centre'})
    return side


#: Meaning of the left-side and self-mirrored points of each category, local 1-based numbers.
LEFT_AND_CENTRE_MEANINGS: Dict[str, Dict[int, str]] = {
    'short_sleeved_shirt': {**_NECKLINE, **_SHORT_SLEEVE_SIDE},
    'long_sleeved_shirt': {**_NECKLINE, **_LONG_SLEEVE_SIDE},
    'short_sleeved_outwear': {
        1: 'neck_back_centre', 4: 'neck_side', 3: 'neck_front_side', 2: 'collar_opening',
        **{k: v for k, v in _SHORT_SLEEVE_SIDE.items() if k <= 15}, 16: 'hem_opening',
        30: 'placket_upper', 31: 'placket_lower'},
    'long_sleeved_outwear': {
        1: 'neck_back_centre', 2: 'neck_side', 3: 'neck_front_side', 4: 'collar_opening',
        **{k: v for k, v in _LONG_SLEEVE_SIDE.items() if k <= 19}, 20: 'hem_opening',
        38: 'placket_upper', 39: 'placket_lower'},
    'vest': {**_NECKLINE, **_SLEEVELESS_TOP_SIDE},
    'sling': {**_NECKLINE, **_SLEEVELESS_TOP_SIDE},
    'shorts': {**_BOTTOM_WAIST, 5: 'leg_opening_outer', 6: 'leg_opening_inner', 7: 'crotch'},
    'trousers': {**_BOTTOM_WAIST, 5: 'knee_outer', 6: 'leg_opening_outer',
                 7: 'leg_opening_inner', 8: 'knee_inner', 9: 'crotch'},
    'skirt': {**_BOTTOM_WAIST, 5: 'hem_corner', 6: 'hem_centre'},
    'short_sleeved_dress': {**_NECKLINE, **_dress_side(_SHORT_SLEEVE_SIDE)},
    'long_sleeved_dress': {**_NECKLINE, **_dress_side(_LONG_SLEEVE_SIDE)},
    'vest_dress': {**_NECKLINE, **_SLEEVELESS_DRESS_SIDE},
    'sling_dress': {**_NECKLINE, **_SLEEVELESS_DRESS_SIDE},
}


def deepfashion2_slot_meanings() -> List[str]:
    """(294,) meanings, slot order: a left point's ends in ``'_l'``, its flip partner's in
    ``'_r'``, a self-mirrored point's is plain; a ValueError names a missed or twice-named slot."""
    flip = deepfashion2_flip_indices()
    meanings: List[str] = [''] * len(flip)
    for name, (start, end) in zip(CLASSES, KEYPOINT_SLICES):
        for local, meaning in LEFT_AND_CENTRE_MEANINGS[name].items():
            slot = start + local - 1
            if not start <= slot < end:
                raise ValueError(f'semantic table: {name} has no point {local}')
            partner = int(flip[slot])
            if partner == slot:
                meanings[slot] = meaning
                continue
            if meanings[slot] or meanings[partner]:
                raise ValueError(f'semantic table: {name} point {local} (slot {slot}) or its '
                                 f'flip partner slot {partner} is named twice')
            meanings[slot], meanings[partner] = f'{meaning}_l', f'{meaning}_r'
        missing = [s - start + 1 for s in range(start, end) if not meanings[s]]
        if missing:
            raise ValueError(f'semantic table: {name} points {missing} have no meaning')
    return meanings


@lru_cache(maxsize=1)
def deepfashion2_semantic_channel_table() -> KeypointChannelTable:
    """The semantic table: 294 slots onto 69 channels (one per meaning) numbered by first use
    (checked where used, by :func:`build_channel_table`)."""
    index: Dict[str, int] = {}  # meaning -> channel, in order of first appearance
    channels = [index.setdefault(name, len(index)) for name in deepfashion2_slot_meanings()]
    return KeypointChannelTable(np.asarray(channels, dtype=np.int64), len(index), tuple(index),
                                'DeepFashion2 semantic (DeepMark++) channel table')
