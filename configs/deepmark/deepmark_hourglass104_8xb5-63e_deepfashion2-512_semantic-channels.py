# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark Hourglass-104, DeepFashion2, 512x512, with shared landmark heatmaps (DeepMark++
# semantic grouping): 69 channels instead of 294 (docs/shared_heatmaps.md).
_base_ = './deepmark_hourglass104_8xb5-63e_deepfashion2-512.py'
model = dict(bbox_head=dict(kpt_heatmap_channels='semantic'))
