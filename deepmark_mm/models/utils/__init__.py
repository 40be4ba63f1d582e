# Copyright (c) deepmark_mm contributors. All rights reserved.
from .ground_truth_maps import BRANCHES, substitute_ground_truth
from .shared_channels import channel_maps_to_slot_maps, head_channel_table

__all__ = [
    'BRANCHES', 'substitute_ground_truth', 'channel_maps_to_slot_maps', 'head_channel_table'
]
