# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34 on the synthetic DeepFashion2-format set (128x128), one CPU: plain 3x3 convs in
# the up-path (use_dcn=False) and 64 hidden channels per head branch, so it trains in minutes.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 500 --num-val 100 --size 128 --seed 0
#   python tools/train.py configs/deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py
_base_ = [
    '../_base_/models/deepmark_dla34.py',
    '../_base_/datasets/synthetic_deepfashion2.py',
    '../_base_/schedules/adam_12e_synthetic.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

model = dict(
    neck=dict(use_dcn=False),
    bbox_head=dict(feat_channels=64),
    test_cfg=dict(topk=20, max_per_img=20))

train_dataloader = dict(batch_size=8, num_workers=2)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=3, max_keep_ckpts=2))
