# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model with shared landmark heatmaps from the automatic grouping of the synthetic
# training annotations (66 channels; docs/shared_heatmaps.md), made with
#   python tools/analysis_tools/auto_shared_channels.py \
#       data/synthetic_deepfashion2/train/deepfashion2_train.json --threshold 0.1 \
#       --out synthetic_auto-0.1.json --out-py configs/_base_/channel_tables/synthetic_auto-0.1.py
_base_ = [
    './deepmark_dla46c_1xb8-4000it_synthetic-128.py',
    '../_base_/channel_tables/synthetic_auto-0.1.py',
]
model = dict(bbox_head=dict(kpt_heatmap_channels=_base_.kpt_heatmap_channels))
