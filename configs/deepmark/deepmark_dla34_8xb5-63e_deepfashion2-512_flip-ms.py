# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34, DeepFashion2, 512x512.
# The paper's Table 4 "flip + multiscale" column: flip fusion at scales 1.0 and 0.75, the views
# merged by soft-NMS.
# Test with --tta (the config's tta_model and tta_scales wrap the detector):
#   mim test deepmark_mm deepmark_dla34_8xb5-63e_deepfashion2-512_flip-ms --checkpoint CKPT --tta
_base_ = './deepmark_dla34_8xb5-63e_deepfashion2-512.py'
tta_model = dict(type='DeepMarkTTAModel', flip=True)
tta_scales = [1.0, 0.75]
