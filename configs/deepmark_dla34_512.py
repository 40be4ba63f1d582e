# Copyright (c) deepmark_mm contributors. All rights reserved.
# The paper's DLA-34 model at 512x512, short name:
#   mim train deepmark_mm configs/deepmark_dla34_512.py
_base_ = './deepmark/deepmark_dla34_8xb5-63e_deepfashion2-512.py'
