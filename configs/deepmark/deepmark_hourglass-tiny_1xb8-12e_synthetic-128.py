# Copyright (c) deepmark_mm contributors. All rights reserved.
# A tiny two-stack Hourglass (2 downsamplings, 64/96 channels, one block per stage) with DeepMark
# heads on both stacks, on the synthetic DeepFashion2-format set (128x128), one CPU. Same code
# path as Hourglass-104 (mmdet HourglassNet, both stacks supervised, the last one predicts).
_base_ = [
    '../_base_/models/deepmark_hourglass104.py',
    '../_base_/datasets/synthetic_deepfashion2.py',
    '../_base_/schedules/adam_12e_synthetic.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

model = dict(
    # stem stride 4 x 2**2 hourglass downsamplings
    data_preprocessor=dict(pad_size_divisor=16),
    backbone=dict(
        downsample_times=2,
        num_stacks=2,
        stage_channels=[64, 64, 96],
        stage_blocks=[1, 1, 1],
        feat_channel=64),
    bbox_head=dict(in_channels=64, feat_channels=64, num_feat_levels=2),
    test_cfg=dict(topk=20, max_per_img=20))

train_dataloader = dict(batch_size=8, num_workers=2)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=3, max_keep_ckpts=2))
