# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model with shared landmark heatmaps (DeepMark++ semantic grouping of DeepFashion2's
# slots, 69 channels instead of 294; docs/shared_heatmaps.md says where the synthetic generator's
# point names agree with this table and where not).
_base_ = './deepmark_dla46c_1xb8-4000it_synthetic-128.py'
model = dict(bbox_head=dict(kpt_heatmap_channels='semantic'))
