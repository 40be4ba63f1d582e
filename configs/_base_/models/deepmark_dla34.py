# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark with CenterNet's DLA-34: timm DLA-34 trunk -> DLA up-path (modulated deformable convs)
# -> 64 channels at stride 4 -> DeepMarkHead. Images arrive BGR (OpenCV) and are normalised with
# CenterNet's mean/std; inputs are padded to a multiple of 32 (the trunk's coarsest stride).
model = dict(
    type='CenterNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[104.01, 114.03, 119.92],
        std=[73.60, 69.89, 70.91],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(type='TimmBackbone', arch='dla34', out_indices=(0, 1, 2, 3, 4, 5)),
    neck=dict(
        type='DLAUpNeck',
        in_channels=(16, 32, 64, 128, 256, 512),
        first_level=2,
        last_level=5,
        use_dcn=True),
    bbox_head=dict(type='DeepMarkHead', in_channels=64, feat_channels=256, num_feat_levels=1),
    train_cfg=None,
    test_cfg=dict(
        topk=100,
        local_maximum_kernel=3,
        max_per_img=100,
        nms=None,
        grouping=dict(type='CenterNetKeypointGrouping')))
