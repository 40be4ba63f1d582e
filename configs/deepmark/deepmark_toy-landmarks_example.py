# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark on a landmark set other than DeepFashion2: the generated toy set of 3 shapes with
# 4 / 6 / 5 landmarks (15 slots, tools/dataset_converters/toy_keypoint_set.py), 64x64 images,
# a tiny DLA-46-C model. `keypoint_meta` is the one description of the landmark set: the dataset
# metainfo. The metric, visualiser, inferencer, checkpoint, ONNX export, the annotation loader's
# flip pairs (each sample carries them) and --tta's flip pairs read it from there; the head takes
# its class and slot counts.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/toy_landmarks \
#       --landmark-set toy --num-train 64 --num-val 16 --size 64
#   python tools/train.py configs/deepmark/deepmark_toy-landmarks_example.py
#   python tools/test.py configs/deepmark/deepmark_toy-landmarks_example.py CKPT --tta
_base_ = ['../_base_/models/deepmark_dla34.py', '../_base_/default_runtime.py']
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

keypoint_meta = dict(
    classes=('square', 'hexagon', 'pentagon'),
    keypoint_slices=[[0, 4], [4, 10], [10, 15]],
    flip_indices=[1, 0, 3, 2, 5, 4, 9, 8, 7, 6, 10, 14, 13, 12, 11],
    sigmas=[0.05] * 15,
    skeletons=[[(0, 1), (1, 2), (2, 3), (3, 0)],
               [(4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 4)],
               [(10, 11), (11, 12), (12, 13), (13, 14), (14, 10)]],
    palette=[(220, 40, 40), (40, 200, 40), (30, 120, 220)])
input_size = 64
data_root = 'data/toy_landmarks/'

model = dict(
    backbone=dict(arch='dla46_c'),
    neck=dict(in_channels=(16, 32, 64, 64, 128, 256), use_dcn=False),
    bbox_head=dict(
        feat_channels=32,
        num_classes=len(keypoint_meta['classes']),
        num_keypoints=keypoint_meta['keypoint_slices'][-1][1],
        keypoint_slices=keypoint_meta['keypoint_slices']),
    test_cfg=dict(topk=10, max_per_img=10))

meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'homography_matrix',
             'flip', 'flip_direction')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDeepMarkInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDeepMarkInputs', meta_keys=meta_keys + ('instances', )),
]
toy_dataset = dict(type='KeypointCocoDataset', metainfo=keypoint_meta, data_root=data_root)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        toy_dataset,
        ann_file='train/toy_train.json',
        data_prefix=dict(img='train/image/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        toy_dataset,
        ann_file='validation/toy_validation.json',
        data_prefix=dict(img='validation/image/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# ground truth from the samples' instances; classes, slices and sigmas from the dataset metainfo
val_evaluator = dict(type='DeepFashion2Metric')
test_evaluator = val_evaluator

# --tta: flip fusion (the toy set's flip pairs come from the dataset metainfo)
tta_scales = [1.0]

max_iters = 200
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3), clip_grad=dict(max_norm=35))
param_scheduler = []
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
