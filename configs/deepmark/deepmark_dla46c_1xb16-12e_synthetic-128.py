# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo model (tools/run_demo.sh): DeepMark with timm's compact DLA-46-C trunk, CenterNet's
# DLA up-path with plain 3x3 convs (use_dcn=False) and 64 hidden channels per head branch, trained
# from scratch on the synthetic DeepFashion2-format set at 128x128. A training step costs about
# half of DLA-34's on a CPU, so it learns the set within the demo's time budget.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 1000 --num-val 100 --size 128 --seed 0
#   mim train deepmark_mm configs/deepmark/deepmark_dla46c_1xb16-12e_synthetic-128.py
#   mim test deepmark_mm configs/deepmark/deepmark_dla46c_1xb16-12e_synthetic-128.py \
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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='RandomCenterAffine', input_size=_base_.input_size, scale_range=(0.7, 1.3),
         border=32),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CenterNetColorJitter'),
    dict(type='PackDeepMarkInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'homography_matrix', 'flip', 'flip_direction')),
]
train_dataloader = dict(batch_size=16, num_workers=1, dataset=dict(pipeline=train_pipeline))

max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3, weight_decay=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[10],
         gamma=0.1),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=1))
