# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Float32DepthwiseUpsample: the CPU-training upsampling of the DLA up-path."""
import torch
from mmdet.registry import MODELS

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401
from deepmark_mm.cpu_training import Float32DepthwiseUpsample
from deepmark_mm.models.necks import DepthwiseUpsample


def test_float32_upsample_under_cpu_autocast_and_plain_elsewhere():
    """bfloat16 has no fast CPU kernel for it: under autocast it computes in float32, with grads."""
    torch.manual_seed(0)
    upsample = Float32DepthwiseUpsample(4, 2)
    x = torch.randn(1, 4, 6, 6, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = upsample(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, upsample(x.float()))
    out.sum().backward()
    assert x.grad.dtype == torch.bfloat16 and upsample.weight.grad.dtype == torch.float32
    # outside autocast the input dtype is kept
    assert upsample.double()(x.detach().double()).dtype == torch.float64
    # the paper's layer follows autocast (bfloat16 out)
    plain = DepthwiseUpsample(4, 2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert plain(x.detach()).dtype == torch.bfloat16


def test_neck_builds_the_configured_upsampling_with_the_same_state_dict():
    cfg = dict(type='DLAUpNeck', in_channels=(4, 4, 8, 8, 16, 16), use_dcn=False)
    torch.manual_seed(0)
    plain = MODELS.build(cfg)
    torch.manual_seed(0)
    cpu = MODELS.build(dict(cfg, upsample_cfg=dict(type='Float32DepthwiseUpsample')))
    upsamples = [m for m in cpu.modules() if isinstance(m, DepthwiseUpsample)]
    assert upsamples and all(isinstance(m, Float32DepthwiseUpsample) for m in upsamples)
    assert not any(isinstance(m, Float32DepthwiseUpsample) for m in plain.modules())
    assert plain.state_dict().keys() == cpu.state_dict().keys()
    for key, value in plain.state_dict().items():
        assert torch.equal(value, cpu.state_dict()[key]), key
    inputs = [torch.randn(1, c, 64 // 2**i, 64 // 2**i) for i, c in enumerate(cfg['in_channels'])]
    torch.testing.assert_close(cpu(inputs)[0], plain(inputs)[0])
