# Copyright (c) deepmark_mm contributors. All rights reserved.
# The paper's Hourglass-104 model at 512x512, short name:
#   mim train deepmark_mm configs/deepmark_hg_512.py
_base_ = './deepmark/deepmark_hourglass104_8xb5-63e_deepfashion2-512.py'
