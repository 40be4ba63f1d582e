# Copyright (c) deepmark_mm contributors. All rights reserved.
# DeepMark DLA-34 on the synthetic set, 128x128, tested with the paper's Table 4
# "flip" column: the image and its mirror fused on the head outputs, one scale.
# A test-only config (the model is DeepMarkTTAModel): run it without --tta,
#   python tools/test.py configs/deepmark/deepmark_dla34_1xb8-12e_synthetic-128_flip.py CKPT
# See configs/deepmark/deepmark_tta.py for the pieces.
_base_ = ['./deepmark_dla34_1xb8-12e_synthetic-128.py', './deepmark_tta.py']
custom_imports = dict(imports=['deepmark_mm'], allow_failed_imports=False)

tta_scales = [1.0]
tta_model = dict(_base_.tta_model, flip=True, nms=None)
tta_pipeline = [
    *_base_.tta_pipeline[:-1],
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='CenterAffine', input_size=round(_base_.input_size * scale))
                for scale in tta_scales
            ],
            _base_.tta_pipeline[-1]['transforms'][1],
        ])
]
model = dict(_delete_=True, module=_base_.model, **tta_model)
test_dataloader = dict(dataset=dict(pipeline=tta_pipeline))
