# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark, DLA-34 (CenterNet's DLASeg with deformable up-path), DeepFashion2, 512x512 input,
# the paper's schedule: Adam 3e-4 (50 ep) -> 3e-5 (3 ep) -> 1e-5 (10 ep), batch 8 GPUs x 5 = 40
# (the paper: 37).
# Reported numbers come from the FINAL checkpoint, epoch_63.pth, as in the paper. save_best also
# keeps best_deepfashion2_kpt_mAP_epoch_N.pth for convenience; it is picked on the validation
# set, which is also the reported set, so its numbers are optimistic and are not reported.
#
#   python tools/train.py configs/deepmark/deepmark_dla34_8xb5-63e_deepfashion2-512.py
#   mim train deepmark_mm configs/deepmark_dla34_512.py --gpus 8 --launcher pytorch
#
# The trunk starts from timm's ImageNet DLA-34 weights (downloaded on first use; offline, an
# error names the ways out). The paper starts from CenterNet's COCO model: convert it once with
#   python tools/model_converters/centernet_to_deepmark.py ctdet_coco_dla_2x.pth \
#       checkpoints/deepmark_dla34_from_ctdet_coco.pth --arch dla34
# and pass --cfg-options load_from=checkpoints/deepmark_dla34_from_ctdet_coco.pth load_partial=True
# (it has no DeepMark output layers; the ImageNet weights are then not fetched). From random weights: --cfg-options model.backbone.pretrained=False.
# Without DCN kernels (or for ONNX export): --cfg-options model.neck.use_dcn=False.
_base_ = [
    '../_base_/models/deepmark_dla34.py',
    '../_base_/datasets/deepfashion2.py',
    '../_base_/schedules/adam_63e.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

train_dataloader = dict(batch_size=5, num_workers=4)
model = dict(backbone=dict(pretrained=True))
# one line at start-up on where the initial weights come from (a WARNING when random)
custom_hooks = [dict(type='InitialWeightsCheckHook')]
