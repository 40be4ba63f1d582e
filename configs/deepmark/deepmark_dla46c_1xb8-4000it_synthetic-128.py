# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model (tools/run_demo.sh): DeepMark with timm's compact DLA-46-C trunk, CenterNet's
# DLA up-path with plain 3x3 convs (use_dcn=False), 64 hidden channels in the heatmap and
# landmark-offset head branches and CenterNet's 256 in the wh / offset / landmark-regression ones,
# trained from scratch on the synthetic DeepFashion2-format set at 128x128 for 4000 iterations of
# 8 images (about 16 minutes on 2 CPU cores).
# CPU-time savers, all measured on 2 cores: channels-last convolutions (ChannelsLastHook),
# bfloat16 autocast (BF16AutocastOptimWrapper; the up-path's depthwise upsampling stays float32,
# see DepthwiseUpsample), PyTorch's fused CPU Adam (4 vs 17 ms per step), the head's regression
# branches evaluated only at the pixels their losses read (DeepMarkHead's
# sparse_train_regression, on by default), CenterNetFocalLoss (the head's default; 14 vs 31 ms
# for the landmark heatmap since it weighs the target only where it is non-zero) and glibc
# keeping freed memory (RetainFreedMemoryHook: a step no longer page-faults its activations in
# again). Together the last two took a training iteration from 0.28 to 0.24 s in the demo run
# (4000 iterations in 950 s, 3700 took 1044 s before). One learning-speed change: dense
# regression around each centre and landmark (regression_radius), see below.
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
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(arch='dla46_c'),
    neck=dict(in_channels=(16, 32, 64, 64, 128, 256), use_dcn=False),
    # regression_radius=1: wh, offset and the landmark regressions are also supervised on the
    # 3x3 pixels around each centre / landmark (TTFNet-style), so a peak one pixel off still
    # reads the right box (CenterNet's single pixel: box / landmark mAP 0.735 / 0.551 after
    # 2,800 iterations; 0.792 / 0.621 with it after 3,300). Measured and not kept: a 5x5 window
    # (0.733 / 0.572 after 3,000), and a wh weight of 0.2 instead of CenterNet's 0.1 (0.779 /
    # 0.563 after 3,000: the landmark heatmaps learn slower).
    # vote_radius=1: each box and coarse landmark set is the centre-heatmap-weighted mean of
    # the 3x3 pixels' readings (+0.003 box mAP on the same model); kpt_vote_radius=1: each
    # landmark heatmap peak likewise averages the kpt_offset readings of the 3x3 pixels its slot
    # owns (landmark mAP 0.576 -> 0.629 on the 3,000-iteration model, 0.646 -> 0.673 on this one).
    # feat_channels: the regression branches are only evaluated at a few hundred pixels per batch
    # in training, so CenterNet's 256 hidden channels cost them little there (the dense heatmap
    # branches stay at 64); with 64 everywhere and 3300 iterations: box / landmark mAP 0.789 /
    # 0.662, with these widths 0.795 / 0.678.
    # landmark_score_weight=0.35: a garment's score is score^0.65 * (mean score of its category's
    # landmarks)^0.35 -- the landmark heatmaps are a second opinion on the category. On that
    # model: 0.795 / 0.678 -> 0.798 / 0.689; on three earlier models the landmark mAP rose by
    # 0.011-0.019 and box mAP moved by -0.003 to +0.007.
    bbox_head=dict(
        feat_channels=dict(_delete_=True, default=64, wh=256, offset=256, kpt_reg=256),
        regression_radius=1),
    test_cfg=dict(
        topk=20, max_per_img=20, vote_radius=1, kpt_vote_radius=1, landmark_score_weight=0.35))

# The synthetic validation images come from the same generator as the training ones, so the
# training views use the deterministic test warp (random flip + colour jitter only): from scratch
# on a CPU, CenterNet's random scale/crop (RandomCenterAffine) halves what is learnt in the
# demo's time (measured: box mAP 0.38 vs 0.44 after ~6 minutes of training). Variety comes from
# the number of generated images instead: with 1000 images the centre-heatmap loss was 0.12 on
# training images and 0.70 on validation ones after 18 passes; with 4500 it was 0.29 / 0.36.
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
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=3e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)

# a fixed seed: the same initialisation, batch order and augmentation on every run (two runs of
# the previous recipe gave single-scale box mAP 0.789 with seed 0 and 0.807 unseeded)
randomness = dict(seed=0)
custom_hooks = [dict(type='ChannelsLastHook'), dict(type='RetainFreedMemoryHook')]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
