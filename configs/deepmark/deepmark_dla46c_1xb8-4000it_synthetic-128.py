# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model (tools/run_demo.sh): DeepMark with timm's compact DLA-46-C trunk, CenterNet's
# DLA up-path with plain 3x3 convs (use_dcn=False), 64 hidden channels in the heatmap and
# landmark-offset head branches and CenterNet's 256 in the wh / offset / landmark-regression ones,
# trained from scratch on the synthetic DeepFashion2-format set at 128x128 for 4000 iterations of
# 8 images.
# CPU training settings, all from the opt-in package deepmark_mm.cpu_training: the head's
# regression branches evaluated only at the pixels their losses read and focal losses on logits
# (SparseRegressionDeepMarkHead: the same losses and gradients as DeepMarkHead), channels-last
# convolutions (ChannelsLastHook), bfloat16 autocast (BF16AutocastOptimWrapper; the up-path's
# depthwise upsampling stays float32: Float32DepthwiseUpsample), PyTorch's fused CPU Adam and glibc keeping freed memory
# (RetainFreedMemoryHook). Dense regression around each centre and landmark (regression_radius),
# see below.
# What each setting measured, and the settings tried and not kept: docs/experiments.md.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 6000 --num-val 100 --size 128 --seed 0
#   mim train deepmark_mm configs/deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128.py
#   mim test deepmark_mm configs/deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128.py \
#       --checkpoint CKPT --tta
_base_ = [
    '../_base_/models/deepmark_dla34.py',
    '../_base_/datasets/synthetic_deepfashion2.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['deepmark_mm', 'deepmark_mm.cpu_training'], allow_failed_imports=False)

model = dict(
    backbone=dict(arch='dla46_c'),
    neck=dict(
        in_channels=(16, 32, 64, 64, 128, 256),
        use_dcn=False,
        upsample_cfg=dict(type='Float32DepthwiseUpsample')),
    # regression_radius=1: wh, offset and the landmark regressions are also supervised on the
    # 3x3 pixels around each centre / landmark (TTFNet-style), so a peak one pixel off still
    # reads the right box (CenterNet regresses at the single centre pixel).
    # vote_radius=1: each box and coarse landmark set is the centre-heatmap-weighted mean of
    # the 3x3 pixels' readings; kpt_vote_radius=1: each landmark heatmap peak likewise averages
    # the kpt_offset readings of the 3x3 pixels its slot owns.
    # feat_channels: the regression branches are only evaluated at a few hundred pixels per batch
    # in training, so CenterNet's 256 hidden channels cost them little there (the dense heatmap
    # branches stay at 64).
    # keypoint_score_weight=0.35: a garment's score is score^0.65 * (mean score of its category's
    # landmarks)^0.35 -- the landmark heatmaps are a second opinion on the category.
    bbox_head=dict(
        type='SparseRegressionDeepMarkHead',
        feat_channels=dict(_delete_=True, default=64, wh=256, offset=256, kpt_reg=256),
        regression_radius=1),
    test_cfg=dict(
        topk=20, max_per_img=20, vote_radius=1, kpt_vote_radius=1, keypoint_score_weight=0.35))

# The synthetic validation images come from the same generator as the training ones, so the
# training views use the deterministic test warp (random flip + colour jitter only) instead of
# CenterNet's random scale/crop (RandomCenterAffine); variety comes from the number of generated
# images instead.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='CenterAffine', input_size=_base_.input_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CenterNetColorJitter'),
    dict(type='PackDeepMarkInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'homography_matrix', 'flip', 'flip_direction')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))

# Adam 3e-3 with a 100-iteration warm-up and a cosine decay to 3e-5, validation at the end only.
# The cosine has no `end`: MMEngine's runner ends it at train_cfg.max_iters, so a run shortened
# with --cfg-options train_cfg.max_iters=N still decays to 3e-5 by iteration N (also when N is
# within the warm-up: RunLengthCosineAnnealingLR).
max_iters = 4000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='BF16AutocastOptimWrapper',
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=0., fused=True),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='RunLengthCosineAnnealingLR', by_epoch=False, begin=100, eta_min=3e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)

# a fixed seed: the same initialisation, batch order and augmentation on every run
randomness = dict(seed=0)
custom_hooks = [dict(type='ChannelsLastHook'), dict(type='RetainFreedMemoryHook')]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
