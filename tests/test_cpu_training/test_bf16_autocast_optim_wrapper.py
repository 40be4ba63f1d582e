# Copyright (c) deepmark_mm contributors. All rights reserved.
"""BF16AutocastOptimWrapper: bfloat16 forward on a CPU, float32 parameters and updates."""
import torch
import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401


def _model_and_wrapper(wrapper_type):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, OPTIM_WRAPPERS.build(dict(type=wrapper_type, optimizer=optimizer))


def test_forward_runs_in_bf16_and_the_update_stays_fp32():
    images = torch.randn(2, 3, 16, 16)
    model, wrapper = _model_and_wrapper('BF16AutocastOptimWrapper')
    reference, reference_wrapper = _model_and_wrapper('OptimWrapper')
    assert isinstance(wrapper, OptimWrapper)
    with wrapper.optim_context(model):
        out = model(images)
    assert out.dtype == torch.bfloat16
    with torch.no_grad():
        expected = reference(images)
    # bfloat16 keeps 8 mantissa bits: close to float32, but not equal
    assert 0 < (out.float() - expected).abs().max() < 0.05 * expected.abs().max()

    wrapper.update_params(out.float().square().mean())
    with reference_wrapper.optim_context(reference):
        reference_wrapper.update_params(reference(images).square().mean())
    for param, ref_param in zip(model.parameters(), reference.parameters()):
        assert param.dtype == torch.float32
        torch.testing.assert_close(param, ref_param, atol=2e-3, rtol=0.05)
    assert any((p - r).abs().max() > 0 for p, r in zip(model.parameters(),
                                                       reference.parameters()))
    with wrapper.optim_context(model):  # autocast ends with the context
        pass
    assert model(images).dtype == torch.float32
