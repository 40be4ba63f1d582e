# Copyright (c) deepmark_mm contributors. All rights reserved.
# Short CPU schedule for the synthetic set (provisional: tuned against the learning bar of the
# synthetic tests): Adam 1e-3 without weight decay, a 50-iteration linear warm-up, x0.1 at
# epoch 9, 12 epochs, validation every 3 epochs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=12, milestones=[9], gamma=0.1),
]

auto_scale_lr = dict(enable=False, base_batch_size=8)
