# Copyright (c) deepmark_mm contributors. All rights reserved.
from .ground_truth_maps import BRANCHES, substitute_ground_truth
from .shared_channels import (channel_maps_to_slot_maps, head_channel_table, mirror_channel_maps,
                              slot_maps_to_channel_maps, swap_flipped_channels)

__all__ = [
    'BRANCHES', 'substitute_ground_truth', 'channel_maps_to_slot_maps', 'head_channel_table',
    'mirror_channel_maps', 'slot_maps_to_channel_maps', 'swap_flipped_channels'
]
