# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, DeepFashion2, 512x512, with shared landmark heatmaps from the automatic
# grouping (arXiv 2010.12390 idea; docs/shared_heatmaps.md). The table comes from the training
# annotations; make it once with
#   python tools/analysis_tools/auto_shared_channels.py \
#       data/deepfashion2/train/deepfashion2_train.json --threshold 0.1 \
#       --out data/deepfashion2/channel_tables/train_auto-0.1.json
_base_ = './deepmark_dla34_8xb5-63e_deepfashion2-512.py'
model = dict(
    bbox_head=dict(kpt_heatmap_channels='data/deepfashion2/channel_tables/train_auto-0.1.json'))
