# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark with CenterNet's Hourglass-104: mmdet's HourglassNet (2 stacks, 5 downsamplings,
# CornerNet/CenterNet channels and blocks) -> 256 channels at stride 4 per stack -> DeepMarkHead
# with one branch set per stack (both supervised, the last one predicts).
model = dict(
    type='CenterNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[104.01, 114.03, 119.92],
        std=[73.60, 69.89, 70.91],
        bgr_to_rgb=False,
        # stem stride 4 x 2**5 hourglass downsamplings (CenterNet pads test images the same way)
        pad_size_divisor=128),
    backbone=dict(
        type='HourglassNet',
        downsample_times=5,
        num_stacks=2,
        stage_channels=[256, 256, 384, 384, 384, 512],
        stage_blocks=[2, 2, 2, 2, 2, 4],
        feat_channel=256,
        norm_cfg=dict(type='BN', requires_grad=True)),
    neck=None,
    bbox_head=dict(type='DeepMarkHead', in_channels=256, feat_channels=256, num_feat_levels=2),
    train_cfg=None,
    test_cfg=dict(
        topk=100,
        local_maximum_kernel=3,
        max_per_img=100,
        nms=None,
        grouping=dict(type='CenterNetKeypointGrouping')))
