# Copyright (c) deepmark_mm contributors. All rights reserved.
# Test-time augmentation pieces (the paper's Table 4): `tta_model` wraps a DeepMark detector in
# DeepMarkTTAModel, `tta_pipeline` feeds it one view per scale in `tta_scales` (CenterAffine to
# round(scale * tta_input_size) pixels: the 0.75 view is a 384x384 network input at 512).
#
# Each view runs the network once on [image, mirror(image)] (flip fusion of the head outputs,
# then one decode); the views of an image are merged by per-class Gaussian soft-NMS (sigma 0.5)
# keeping the detector's max_per_img (100); `nms=None` applies the soft-NMS only when there are
# several views.
#
# Use it in two ways:
#   1. `--tta` on a config that lists this file among its `_base_` (tools/test.py and
#      `mim test deepmark_mm CONFIG --checkpoint CKPT --tta` wrap cfg.model in cfg.tta_model and
#      switch the test set to cfg.tta_pipeline). A config whose input is not 512 rebuilds the
#      pipeline from its own size (`_base_` variables are readable in config code):
#          _base_ = [..., '../deepmark/deepmark_tta.py']
#          tta_pipeline = _base_.tta_pipeline
#          tta_pipeline[-1]['transforms'][0] = [
#              dict(type='CenterAffine', input_size=round(_base_.input_size * scale))
#              for scale in _base_.tta_scales]
#   2. a ready TTA test config, one per paper column (no --tta needed), e.g.
#          python tools/test.py \
#              configs/deepmark/deepmark_dla34_8xb5-63e_deepfashion2-512_flip-ms.py CKPT
#      (*_nms.py: soft-NMS only; *_flip.py: flip fusion; *_flip-ms.py: flip + scales 1.0, 0.75).
#
# Only keys starting with `tta_` live here, so this file can sit next to any other base.
tta_scales = [1.0, 0.75]
tta_input_size = 512

tta_model = dict(
    type='DeepMarkTTAModel',
    flip=True,
    # CenterNet takes the centre / landmark offsets from the unflipped image
    average_offsets=False,
    # None: soft-NMS only when an image has several views (CenterNet's merge_outputs)
    nms=None,
    nms_cfg=dict(type='soft_nms', iou_threshold=0.5, sigma=0.5, min_score=0.001, method='gaussian'),
    # None: the detector's test_cfg.max_per_img (100 in the paper configs)
    max_per_img=None)

tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadDeepFashion2Annotations'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='CenterAffine', input_size=round(tta_input_size * scale))
                for scale in tta_scales
            ],
            [
                dict(
                    type='PackDeepMarkInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                               'homography_matrix', 'flip', 'flip_direction', 'instances'))
            ],
        ])
]
