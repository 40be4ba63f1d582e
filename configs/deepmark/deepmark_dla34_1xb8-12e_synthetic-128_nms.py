# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, synthetic DeepFashion2, 128x128.
# The paper's Table 4 "soft-NMS" column: one view, no flip, soft-NMS on its detections.
# Test with --tta (the config's tta_model and tta_scales wrap the detector):
#   mim test deepmark_mm deepmark_dla34_1xb8-12e_synthetic-128_nms --checkpoint CKPT --tta
_base_ = './deepmark_dla34_1xb8-12e_synthetic-128.py'
tta_model = dict(type='DeepMarkTTAModel', flip=False, nms=True)
tta_scales = [1.0]
