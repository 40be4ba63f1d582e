# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, DeepFashion2, 512x512, with shared landmark heatmaps (DeepMark++ semantic
# grouping): 69 channels instead of 294, slots of the same meaning across categories share one
# (deepmark_mm/datasets/shared_channel_table.py, docs/shared_heatmaps.md).
_base_ = './deepmark_dla34_8xb5-63e_deepfashion2-512.py'
model = dict(bbox_head=dict(kpt_heatmap_channels='semantic'))
