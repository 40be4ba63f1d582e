# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The semantic DeepFashion2 channel table: slots of the same meaning share a heatmap channel.

DeepMark++ (Sidnev et al. 2020, arXiv 2006.00710) groups landmark slots that mean the same point of
a garment across categories. This module gives each of the 294 slots a meaning and shares one
channel per meaning; :func:`deepfashion2_semantic_channel_table` returns G = 69 channels.

Meanings were read off DeepFashion2's definitions: mmpose's skeleton links order each category's
points along its outline, flip pairs give left / right, and the mean box-normalised positions of
the 32 real ``deepfashion2-samples`` images checked which point sits where. The tables below use
local 1-based numbers for the left side (the chain starting at point 7 of tops, 4 of bottoms)
and self-mirrored points; a left point's flip partner gets the mirrored channel. Non-obvious
choices: the outwear opening (collar, placket, hem) has its own left / right channels (the top's
neck and hem centres are their own mirror); cuffs and the sleeve seam middles are shared by short
and long sleeves; the vest / sling side point shares the sleeved tops' waist channel (same mean
position); each dress side chain (sleeved: four points, sleeveless: three) has its own channels.
"""
from functools import lru_cache
from typing import Dict, List

from .deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES, flip_indices
from .shared_channel_table import (KeypointChannelTable, check_channel_table,
                                   table_from_slot_names)

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
    flip = flip_indices()
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
    """The checked semantic table: 294 slots onto 69 channels numbered by first use."""
    table = table_from_slot_names(deepfashion2_slot_meanings(),
                                  'DeepFashion2 semantic (DeepMark++) channel table')
    check_channel_table(table, KEYPOINT_SLICES, flip_indices())
    return table
