# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark Hourglass-104, DeepFashion2, 512x512.
# The paper's Table 4 "soft-NMS" column: one view, no flip, soft-NMS on its detections.
# Test with --tta (the config's tta_model and tta_scales wrap the detector):
#   mim test deepmark_mm deepmark_hourglass104_8xb5-63e_deepfashion2-512_nms --checkpoint CKPT --tta
_base_ = './deepmark_hourglass104_8xb5-63e_deepfashion2-512.py'
tta_model = dict(type='DeepMarkTTAModel', flip=False, nms=True)
tta_scales = [1.0]
