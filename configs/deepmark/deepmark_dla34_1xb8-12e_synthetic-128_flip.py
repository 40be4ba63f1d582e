# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, synthetic DeepFashion2, 128x128.
# The paper's Table 4 "flip" column: the image and its mirror fused on the head outputs.
# Test with --tta (the config's tta_model and tta_scales wrap the detector):
#   mim test deepmark_mm deepmark_dla34_1xb8-12e_synthetic-128_flip --checkpoint CKPT --tta
_base_ = './deepmark_dla34_1xb8-12e_synthetic-128.py'
tta_model = dict(type='DeepMarkTTAModel', flip=True)
tta_scales = [1.0]
