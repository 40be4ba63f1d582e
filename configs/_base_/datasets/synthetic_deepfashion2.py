# Copyright (c) deepmark_mm contributors. All rights reserved.
# The synthetic DeepFashion2-format set (128x128 images, all 13 categories), generated with
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 500 --num-val 100 --size 128 --seed 0
# Same layout and file names as configs/_base_/datasets/deepfashion2.py.
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

dataset_type = 'DeepFashion2Dataset'
data_root = 'data/synthetic_deepfashion2/'
input_size = 128
train_batch_size = 16
val_batch_size = 8
train_num_workers = 2
val_num_workers = 1
backend_args = None
# Invalid annotation items of the evaluated split: False stops with an error naming file, image and
# item; True skips them (one warning). The metric re-reads ann_file and gets the same setting, so
# that it scores exactly the items the dataset keeps.
val_skip_invalid = False

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='RandomCenterAffine', input_size=input_size, scale_range=(0.6, 1.4), border=128),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CenterNetColorJitter'),
    dict(
        type='PackDeepMarkInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                   'homography_matrix', 'flip', 'flip_direction')),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='CenterAffine', input_size=input_size),
    dict(
        type='PackDeepMarkInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                   'homography_matrix', 'flip', 'flip_direction', 'instances')),
]

train_dataloader = dict(
    batch_size=train_batch_size,
    num_workers=train_num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train/deepfashion2_train.json',
        data_prefix=dict(img='train/image/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=val_batch_size,
    num_workers=val_num_workers,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='validation/deepfashion2_validation.json',
        data_prefix=dict(img='validation/image/'),
        test_mode=True,
        skip_invalid=val_skip_invalid,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='DeepFashion2Metric',
    ann_file=data_root + 'validation/deepfashion2_validation.json',
    skip_invalid=val_skip_invalid)
test_evaluator = val_evaluator
