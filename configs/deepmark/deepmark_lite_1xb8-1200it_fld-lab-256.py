# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark-Lite trained on a CPU on the 117 FLD lab photos of ../shared/fashion-landmarks (single
# garments held by robot arms; upper and lower body): the first 90 file names train (72 upper, 18
# lower), the last 27 test (18 upper, 9 lower). EfficientNet-Lite0 trunk from ImageNet weights,
# 256x256, 1200 iterations of 8 photos, with the CPU training settings of the demo
# (deepmark_dla46c_1xb8-4000it_synthetic-128.py explains each). From random weights instead:
#   --cfg-options model.backbone.pretrained=False
# The whole run (convert, train both starts, test, pictures): bash tools/run_fld_lab.sh
_base_ = ['./deepmark_lite_8xb5-63e_fld-256.py']
custom_imports = dict(
    imports=['deepmark_mm', 'deepmark_mm.cpu_training'], allow_failed_imports=False)

# tools/dataset_converters/fld_lab_photos_to_coco.py PHOTO_ROOT data/fld_lab_photos wrote the json
ann_root = 'data/fld_lab_photos/'
photo_root = '../shared/fashion-landmarks/fld_lab_photos/'


def lab_split(split, pipeline, test_mode=False):
    return dict(
        _delete_=True,
        type='mmengine.ConcatDataset',  # compares ndarray metainfo (mmdet's cannot)
        datasets=[
            dict(type='FLDDataset', data_root='', ann_file=f'{ann_root}fld_{kind}_{split}.json',
                 data_prefix=dict(img=photo_root), test_mode=test_mode, pipeline=pipeline)
            for kind in ('upper', 'lower')
        ])


model = dict(
    neck=dict(upsample_cfg=dict(type='Float32DepthwiseUpsample')),
    bbox_head=dict(type='SparseRegressionDeepMarkHead'))
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=lab_split('train', _base_.train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=1,
                      dataset=lab_split('test', _base_.test_pipeline, test_mode=True))
test_dataloader = val_dataloader

# Adam 1e-3, 50-iteration warm-up, cosine to 1e-5 at the end; validation at the end only
max_iters = 1200
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
optim_wrapper = dict(
    type='BF16AutocastOptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0., fused=True),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='RunLengthCosineAnnealingLR', by_epoch=False, begin=50, eta_min=1e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
custom_hooks = _base_.custom_hooks + [
    dict(type='ChannelsLastHook'), dict(type='RetainFreedMemoryHook')]
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_best=None))
log_processor = dict(by_epoch=False)
