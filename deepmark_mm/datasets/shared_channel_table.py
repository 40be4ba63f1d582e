# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Slot -> shared heatmap channel tables: the type, its checks, its flip permutation, its file.

A table maps J slots onto G channels; a head can use it when every channel is used, the slots of
one category use distinct channels, and it is flip-consistent (all slots of one channel flip into
one channel, so a flipped view swaps whole channels). Stored as json: ``{"num_channels": G,
"slot_to_channel": [...], "channel_names": [...], "source": "..."}``.
"""
import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

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

    def slots_of_channel(self, channel: int) -> np.ndarray:
        """The slots drawn into ``channel``, ascending: (n,) int64."""
        return np.flatnonzero(self.slot_to_channel == channel)

    def to_dict(self) -> Dict:
        """The json form (see the module docstring)."""
        return dict(num_channels=int(self.num_channels),
                    slot_to_channel=[int(g) for g in self.slot_to_channel],
                    channel_names=list(self.channel_names), source=self.source)


def check_channel_table(table: KeypointChannelTable,
                        keypoint_slices: Sequence[Sequence[int]],
                        flip_indices: Optional[Sequence[int]] = None) -> None:
    """A ValueError naming ``table.source`` and the offending slots / channels when it cannot
    serve a head (module docstring); flip consistency is checked when ``flip_indices`` is given."""
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
    """A table from its json fields; ``source`` when the fields name none."""
    return KeypointChannelTable(
        slot_to_channel=np.asarray(data['slot_to_channel'], dtype=np.int64),
        num_channels=int(data['num_channels']),
        channel_names=tuple(data.get('channel_names', ())),
        source=str(data.get('source') or source))


def save_channel_table(table: KeypointChannelTable, path: str) -> None:
    """Write ``table`` as json (see the module docstring)."""
    with open(path, 'w', encoding='utf-8') as file:
        json.dump(table.to_dict(), file, indent=1)


def load_channel_table(path: str) -> KeypointChannelTable:
    """Read a table written by :func:`save_channel_table` (a ValueError names a bad ``path``)."""
    with open(path, 'r', encoding='utf-8') as file:
        data = json.load(file)
    try:
        return _table_from_fields(data, path)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path}: not a landmark channel table: {error}') from error


def table_from_slot_names(slot_names: Sequence[str], source: str) -> KeypointChannelTable:
    """A table sharing one channel among slots of equal name ((J,) ``slot_names``), channels
    numbered in order of first appearance."""
    names: List[str] = []
    index: Dict[str, int] = {}
    channels = []
    for name in slot_names:
        if name not in index:
            index[name] = len(names)
            names.append(name)
        channels.append(index[name])
    return KeypointChannelTable(np.asarray(channels, dtype=np.int64), len(names), tuple(names),
                                source)


#: Names ``build_channel_table`` accepts for the semantic DeepFashion2 table.
SEMANTIC_TABLE_NAMES = ('semantic', 'deepfashion2_semantic')


def build_channel_table(spec: Union[KeypointChannelTable, str, Dict],
                        keypoint_slices: Sequence[Sequence[int]],
                        flip_indices: Optional[Sequence[int]] = None) -> KeypointChannelTable:
    """A table checked by :func:`check_channel_table` from a config's ``spec``: a table,
    ``'semantic'`` (DeepFashion2's), a json path (:func:`save_channel_table`, e.g. from
    ``tools/analysis_tools/auto_shared_channels.py``) or a dict of its json fields."""
    if isinstance(spec, KeypointChannelTable):
        table = spec
    elif isinstance(spec, str) and spec in SEMANTIC_TABLE_NAMES:
        from .deepfashion2_semantic_channels import deepfashion2_semantic_channel_table
        table = deepfashion2_semantic_channel_table()
    elif isinstance(spec, str):
        table = load_channel_table(spec)
    elif isinstance(spec, dict):
        try:
            table = _table_from_fields(spec, 'channel table dict')
        except (KeyError, TypeError) as error:
            raise ValueError(f'channel table dict: missing or malformed field {error}') from error
    else:
        raise ValueError(f'channel table: expected a KeypointChannelTable, "semantic", a json '
                         f'path or a dict, got {type(spec).__name__}')
    check_channel_table(table, keypoint_slices, flip_indices)
    return table
