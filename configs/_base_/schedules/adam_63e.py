# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark's schedule (paper, Sec. 4): Adam without weight decay, lr 3e-4 for 50 epochs, 3e-5 for
# 3 epochs, 1e-5 for 10 epochs (63 in all). The paper used a batch of 37 over 8 GPUs; these
# configs use 8 GPUs x 5 images = 40, the base of `auto_scale_lr` (enable with --auto-scale-lr
# in tools/train.py when training with another total batch size). Mixed precision: pass --amp
# to tools/train.py (switches optim_wrapper to AmpOptimWrapper with a dynamic loss scale).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=63, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.))

# 3e-4 -> 3e-5 -> 1e-5 is not one constant factor, so two step schedulers act in turn (MMEngine
# multiplies their effects): x0.1 from epoch 50, then x1/3 from epoch 53.
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=63, milestones=[50], gamma=0.1),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=63, milestones=[53], gamma=1. / 3.),
]

auto_scale_lr = dict(enable=False, base_batch_size=40)
