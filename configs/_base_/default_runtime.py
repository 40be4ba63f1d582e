# Copyright (c) deepmark_mm contributors. All rights reserved.
# Runtime shared by every DeepMark config: plugin import, hooks, logging, visualisation.
default_scope = 'mmdet'
# The plugin import, `custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)`,
# is not set here: the dataset bases (configs/_base_/datasets/) set it, and MMEngine rejects a key
# defined by two sibling bases. Every leaf config under configs/deepmark/ sets it again itself
# (a child may override its bases), so it holds whatever the bases do.

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keeps the last 3 epochs plus the best one by landmark mAP (DeepFashion2Metric, prefix
    # 'deepfashion2'). Reported numbers come from the final epoch (epoch_63.pth for the paper
    # schedule): best_deepfashion2_kpt_mAP_epoch_N.pth is selected on the validation set, which
    # is also the reported set, so it is a convenience, not a reported model.
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='deepfashion2/kpt_mAP',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
    # refuses a run whose model.bbox_head and datasets' metainfo describe different landmark
    # sets (classes, keypoint_slices, TTA flip_indices); a default hook, so configs that set
    # custom_hooks keep it
    keypoint_set_check=dict(type='KeypointSetCheckHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# TensorBoard: replace the line below by
#   vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
# (or pass --cfg-options "vis_backends=[dict(type='LocalVisBackend'),
#  dict(type='TensorboardVisBackend')]" and set visualizer.vis_backends the same way).
vis_backends = [dict(type='LocalVisBackend')]
# boxes, category names, each garment's own landmarks and skeleton (tools/test.py --show-dir)
visualizer = dict(type='DeepMarkVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
# DeepMarkRunner (deepmark_mm.engine): a load_from / resume / test checkpoint must fit the model
# (else an error names the file and the first mismatching keys); load_partial=True loads only the
# tensors that fit, on purpose (fine-tuning from another head, a converted CenterNet model).
runner_type = 'DeepMarkRunner'
load_from = None
load_partial = False
resume = False
