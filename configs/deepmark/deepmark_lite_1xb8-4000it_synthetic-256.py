# Copyright (c) deepmark_mm contributors. All rights reserved.
# The DeepMark-Lite demo recipe (deepmark_lite_1xb8-4000it_synthetic-128.py) at 256x256, on a
# synthetic set generated at that size:
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2_256 \
#       --num-train 6000 --num-val 100 --size 256 --seed 0
_base_ = './deepmark_lite_1xb8-4000it_synthetic-128.py'

input_size = 256
data_root = 'data/synthetic_deepfashion2_256/'
train_pipeline = [
    dict(step, input_size=input_size) if 'input_size' in step else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, input_size=input_size) if 'input_size' in step else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(ann_file=data_root + 'validation/deepfashion2_validation.json')
test_evaluator = dict(ann_file=data_root + 'validation/deepfashion2_validation.json')
