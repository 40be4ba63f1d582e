# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Slot -> channel tables: checks, flip permutation, json, and the semantic DeepFashion2 table."""
import json

import numpy as np
import pytest

from deepmark_mm.datasets.deepfashion2_metainfo import CLASSES, KEYPOINT_SLICES, flip_indices
from deepmark_mm.datasets.shared_channel_table import (KeypointChannelTable,
                                                       channel_flip_indices, check_channel_table,
                                                       deepfashion2_semantic_channel_table,
                                                       deepfashion2_slot_meanings,
                                                       load_channel_table)
from auto_shared_channels import save_channel_table

# two categories of 3 slots: 0 = (left, centre, right), 1 = (left, centre, right)
SLICES = [(0, 3), (3, 6)]
FLIP = [2, 1, 0, 5, 4, 3]


def slot(category: str, local: int) -> int:
    """Global slot of a category's 1-based local landmark."""
    return KEYPOINT_SLICES[CLASSES.index(category)][0] + local - 1


def test_shared_table_flip_permutation_is_an_involution():
    table = KeypointChannelTable(np.array([0, 1, 2, 0, 1, 2]), 3, source='toy')
    check_channel_table(table, SLICES, FLIP)
    assert channel_flip_indices(table, FLIP).tolist() == [2, 1, 0]


@pytest.mark.parametrize('channels, num, message', [
    ([0, 0, 1, 2, 3, 4], 5, r'slots \[0, 1\] of category 0 share channel 0'),
    ([0, 1, 2, 0, 1, 3], 3, r'slots \[5\] map to channels \[3\] outside \[0, 3\)'),
    ([0, 1, 2, 0, 1, 2], 4, r'channels \[3\] are used by no slot'),
    ([0, 1, 2, 0, 2, 1], 3, r'not flip-consistent: slots 0 and 3 share channel 0 .* '
     r'flip into slots 2 \(channel 2\) '
     r'and 5 \(channel 1\)'),
])
def test_check_names_the_offending_slots(channels, num, message):
    table = KeypointChannelTable(np.array(channels), num, source='toy table')
    with pytest.raises(ValueError, match='toy table: ' + message):
        check_channel_table(table, SLICES, FLIP)


def test_flip_indices_must_be_an_involution():
    table = KeypointChannelTable(np.array([0, 1, 2, 0, 1, 2]), 3, source='toy')
    with pytest.raises(ValueError, match='its own inverse'):
        channel_flip_indices(table, [1, 2, 0, 3, 4, 5])


def test_json_round_trip_and_bad_file(tmp_path):
    table = KeypointChannelTable(np.array([0, 1, 2, 0, 1, 2]), 3, ('a', 'b', 'c'), 'toy')
    path = tmp_path / 'table.json'
    save_channel_table(table, str(path))
    loaded = load_channel_table(str(path))
    assert loaded.slot_to_channel.tolist() == [0, 1, 2, 0, 1, 2]
    assert (loaded.num_channels, loaded.channel_names, loaded.source) == (3, ('a', 'b', 'c'), 'toy')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'slot_to_channel': [0, 1]}))
    with pytest.raises(ValueError, match='bad.json: not a landmark channel table'):
        load_channel_table(str(bad))
    bad.write_text(json.dumps(dict(table.to_dict(), slot_to_channel=[0, 1.5, 2, 0, 1, 2])))
    with pytest.raises(ValueError, match='bad.json: .*1-D integer array, got float64'):
        load_channel_table(str(bad))


def test_semantic_table_size_and_rules():
    table = deepfashion2_semantic_channel_table()
    assert (table.num_slots, table.num_channels) == (294, 69)
    check_channel_table(table, KEYPOINT_SLICES, flip_indices())
    permutation = channel_flip_indices(table, flip_indices())
    assert (permutation[permutation] == np.arange(69)).all()
    assert (permutation[table.slot_to_channel] == table.slot_to_channel[flip_indices()]).all()
    centred = sorted(table.channel_names[g] for g in np.flatnonzero(permutation == np.arange(69)))
    assert centred == ['crotch', 'hem_centre', 'neck_back_centre', 'neck_front_centre',
                       'waistband_centre']


def test_semantic_table_shares_the_documented_points():
    table = deepfashion2_semantic_channel_table()

    def channel(category, local):
        return int(table.slot_to_channel[slot(category, local)])

    # back neck centre: every upper garment
    uppers = [c for c in CLASSES if c not in ('shorts', 'trousers', 'skirt')]
    assert len({channel(c, 1) for c in uppers}) == 1
    # hem corner: tops, vest, dresses and the skirt
    hem_corner = {channel('short_sleeved_shirt', 15), channel('long_sleeved_shirt', 19),
                  channel('vest', 10), channel('skirt', 5), channel('short_sleeved_dress', 17),
                  channel('long_sleeved_dress', 21), channel('sling_dress', 12)}
    assert len(hem_corner) == 1
    # cuffs shared by short and long sleeves; the outwear's neck side is its point 4 (short)
    assert channel('short_sleeved_shirt', 9) == channel('long_sleeved_outwear', 11)
    assert channel('short_sleeved_outwear', 4) == channel('short_sleeved_shirt', 2)
    # waistband and crotch across bottoms; knees only in trousers
    assert channel('skirt', 2) == channel('shorts', 2) == channel('trousers', 2)
    assert channel('shorts', 7) == channel('trousers', 9)
    assert (table.slot_to_channel == channel('trousers', 5)).sum() == 1
    # the open front of outwear has its own left/right channels, not the top's centre
    assert channel('long_sleeved_outwear', 4) != channel('short_sleeved_shirt', 4)
    assert channel('long_sleeved_outwear', 4) == channel('short_sleeved_outwear', 2)


def test_semantic_meanings_pair_left_with_right():
    meanings = deepfashion2_slot_meanings()
    flip = flip_indices()
    for j, meaning in enumerate(meanings):
        if flip[j] == j:
            assert not meaning.endswith(('_l', '_r'))
        else:
            assert {meaning[-2:], meanings[flip[j]][-2:]} == {'_l', '_r'}
            assert meaning[:-2] == meanings[flip[j]][:-2]
