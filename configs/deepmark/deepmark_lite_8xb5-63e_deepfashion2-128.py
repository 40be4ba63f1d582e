# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark-Lite at 128x128 input, fine-tuned from the 512x512 model (paper, Fig. 1:
# accuracy/speed at smaller inputs) with the same 63-epoch schedule. load_from is the last
# checkpoint of the 512 run in its default work dir; point it elsewhere with
#   --cfg-options load_from=PATH (e.g. that run's best_deepfashion2_kpt_mAP_epoch_N.pth).
_base_ = './deepmark_lite_8xb5-63e_deepfashion2-512.py'

input_size = 128
train_pipeline = [
    dict(step, input_size=input_size) if 'input_size' in step else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, input_size=input_size) if 'input_size' in step else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

load_from = 'work_dirs/deepmark_lite_8xb5-63e_deepfashion2-512/epoch_63.pth'
