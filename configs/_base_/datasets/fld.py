# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepFashion (1) fashion landmarks (FLD) in mmpose's layout: the three clothing types are
# DeepMark's categories, owning slots [0, 6) upper body, [6, 10) lower body, [10, 18) full body
# of one 18-slot landmark set, described once in deepmark_mm/datasets/fld_dataset.py
# (FLDDataset's metainfo, read by the metric, visualiser and the annotation loader's flips). The
# model config names the set's sizes (fld_* below); KeypointSetCheckHook refuses a run where
# they differ from the datasets'.
#
# Expected layout (mmpose's converted files, used as they are):
#   data/fld/img/...                             the FLD images
#   data/fld/annotations/fld_{upper,lower,full}_{train,val,test}.json
# Training reads every type's train file (ConcatDataset), evaluation every type's test file.
# Metrics: the project's box + landmark mAP (OKS with sigmas chosen in fld_dataset.py) and
# mmpose's own PCKAccuracy(thr=0.2) / AUC / EPE on the detections matched to a garment.
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

fld_num_classes = 3
fld_num_keypoints = 18
fld_keypoint_slices = [[0, 6], [6, 10], [10, 18]]

data_root = 'data/fld/'
ann_dir = 'annotations/'
img_prefix = 'img/'
fld_types = ('upper', 'lower', 'full')
input_size = 256
backend_args = None
meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
             'homography_matrix', 'flip', 'flip_direction')
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDeepFashion2Annotations'),  # flip pairs: the dataset's metainfo
    dict(type='RandomCenterAffine', input_size=input_size,
         scale_choices=(0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3), border=128),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='CenterNetColorJitter'),
    dict(type='PackDeepMarkInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadDeepFashion2Annotations'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDeepMarkInputs', meta_keys=meta_keys + ('instances', )),
]


def fld_split(split, pipeline, test_mode=False):
    return dict(
        type='mmengine.ConcatDataset',  # compares ndarray metainfo (mmdet's cannot)
        datasets=[
            dict(type='FLDDataset', data_root=data_root,
                 ann_file=f'{ann_dir}fld_{fld_type}_{split}.json',
                 data_prefix=dict(img=img_prefix), test_mode=test_mode,
                 pipeline=pipeline, backend_args=backend_args)
            for fld_type in fld_types
        ])


train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=fld_split('train', train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=fld_split('val', test_pipeline, test_mode=True))
test_dataloader = dict(val_dataloader, dataset=fld_split('test', test_pipeline, test_mode=True))
# ground truth from the samples' instances (the json is mmpose's layout, not DeepFashion2's)
val_evaluator = [dict(type='DeepFashion2Metric', prefix='fld'), dict(type='MatchedKeypointMetric')]
test_evaluator = val_evaluator
