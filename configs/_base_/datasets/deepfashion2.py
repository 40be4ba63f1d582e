# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepFashion2 (13 categories, 294 landmark slots), official COCO-layout annotations.
#
# Expected layout (the official release, converted once per split with
# `python tools/dataset_converters/deepfashion2_to_coco.py data/deepfashion2/SPLIT
#  data/deepfashion2/SPLIT/deepfashion2_SPLIT.json --workers 8`):
#   data/deepfashion2/train/image/NNNNNN.jpg        data/deepfashion2/train/annos/NNNNNN.json
#   data/deepfashion2/train/deepfashion2_train.json
#   data/deepfashion2/validation/image/NNNNNN.jpg   data/deepfashion2/validation/annos/...
#   data/deepfashion2/validation/deepfashion2_validation.json
#
# `input_size` is the network input side (512 as the paper; 256/128 for quick runs). The pipelines
# are built from it here, so a config that changes it must rebuild them, e.g.
#   input_size = 256
#   train_pipeline = [... dict(type='RandomCenterAffine', input_size=input_size) ...]
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# (see configs/_base_/datasets/synthetic_deepfashion2.py for a complete example).
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

dataset_type = 'DeepFashion2Dataset'
data_root = 'data/deepfashion2/'
input_size = 512
train_batch_size = 16
val_batch_size = 1
train_num_workers = 4
val_num_workers = 2
backend_args = None
# Invalid annotation items of the evaluated split: False stops with an error naming file, image and
# item; True skips them (one warning). The metric re-reads ann_file and gets the same setting, so
# that it scores exactly the items the dataset keeps.
val_skip_invalid = False

# Training skips an undecodable image (one WARNING naming it; another sample is drawn) and stops
# with a clear error once more than max_bad_share of the loads failed. List the bad files ahead
# of a run with `python tools/analysis_tools/check_dataset.py CONFIG --split train --workers 8`.
train_pipeline = [
    dict(type='LoadImageFromFileOrSkip', max_bad_share=0.01, backend_args=backend_args),
    dict(type='LoadDeepFashion2Annotations'),
    # CenterNet's augmentation (src/lib/datasets/sample/multi_pose.py, utils/image.py color_aug):
    # scale factor drawn from {0.6, 0.7, ..., 1.3}; contrast/saturation blended against the
    # original image's grey; PCA eigenvalues of coco_hp.py; float result, unclipped. This
    # project's first variant (uniform U(0.6, 1.4) scale, blends against the current grey, third
    # eigenvalue 0.00752097, uint8) is these transforms' defaults (the synthetic configs).
    dict(
        type='RandomCenterAffine',
        input_size=input_size,
        scale_choices=(0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3),
        border=128),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='CenterNetColorJitter',
        gray_reference='original',
        pca_eigenvalues='centernet',
        to_float=True),
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
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        skip_invalid=True,
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
