# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, DeepFashion2, 512x512.
# The paper's Table 4 "flip" column: the image and its mirror fused on the head outputs.
# Test with --tta (the config's tta_model and tta_scales wrap the detector):
#   mim test deepmark_mm deepmark_dla34_8xb5-63e_deepfashion2-512_flip --checkpoint CKPT --tta
_base_ = './deepmark_dla34_8xb5-63e_deepfashion2-512.py'
tta_model = dict(type='DeepMarkTTAModel', flip=True)
tta_scales = [1.0]
