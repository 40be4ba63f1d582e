# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DCNv2 of deepmark_mm.ops (torchvision's ``deform_conv2d``): the paper's formula, gradients,
mmcv's parameter layout and init, and mmcv's forward / gradients where full mmcv (compiled ops) is
installed."""
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops
from deepmark_mm.ops import ModulatedDeformConv2d, ModulatedDeformConv2dPack

needs_full_mmcv = pytest.mark.skipif(not mmcv_has_compiled_ops(),
                                     reason='full mmcv (compiled ops) is not installed')


def bilinear(image, y, x):
    """Sample (H, W) ``image`` at (y, x); zero outside, as the DCN kernels."""
    height, width = image.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return 0.
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * float(image[yy, xx])
    return total


def reference_dcn_v2(x, offset, mask, weight, bias, padding):
    """y[o, p] = b[o] + sum_k sum_c w[o, c, k] * m_k(p) * x_c(p + p_k + (dy_k, dx_k)(p))."""
    _, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out = torch.zeros(1, out_channels, height, width, dtype=torch.float64)
    for i in range(height):
        for j in range(width):
            for ki in range(kh):
                for kj in range(kw):
                    tap = ki * kw + kj
                    y = i - padding + ki + float(offset[0, 2 * tap, i, j].detach())
                    xx = j - padding + kj + float(offset[0, 2 * tap + 1, i, j].detach())
                    samples = torch.tensor([bilinear(x[0, c], y, xx) for c in range(channels)],
                                           dtype=torch.float64)
                    out[0, :, i, j] += float(mask[0, tap, i, j]) * weight[:, :, ki, kj] @ samples
    return out + bias.view(1, -1, 1, 1)


def modulated_deform_conv2d(x, offset, mask, weight, bias):
    """What :class:`ModulatedDeformConv2d` (3 x 3, padding 1) computes, on any weights."""
    return deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask)


def random_case(seed, channels=3, out_channels=4, size=6):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=generator, dtype=torch.float64)
    offset = torch.randn(1, 18, size, size, generator=generator, dtype=torch.float64) * 1.5
    mask = torch.rand(1, 9, size, size, generator=generator, dtype=torch.float64)
    weight = torch.randn(out_channels, channels, 3, 3, generator=generator, dtype=torch.float64)
    bias = torch.randn(out_channels, generator=generator, dtype=torch.float64)
    return x, offset, mask, weight, bias


def test_forward_is_the_dcn_v2_formula_with_dy_dx_pairs():
    x, offset, mask, weight, bias = random_case(0)
    ours = modulated_deform_conv2d(x, offset, mask, weight, bias)
    torch.testing.assert_close(ours, reference_dcn_v2(x, offset, mask, weight, bias, 1),
                               rtol=1e-10, atol=1e-10)
    layer = ModulatedDeformConv2d(3, 4, 3, padding=1).double()
    layer.weight.data, layer.bias.data = weight, bias
    torch.testing.assert_close(layer(x, offset, mask), ours, rtol=0, atol=0)


def test_zero_offsets_and_unit_mask_are_a_plain_convolution():
    x, offset, mask, weight, bias = random_case(1)
    ours = modulated_deform_conv2d(x, torch.zeros_like(offset), torch.ones_like(mask), weight,
                                   bias)
    torch.testing.assert_close(ours, F.conv2d(x, weight, bias, padding=1))
    shifted = torch.zeros_like(offset)
    shifted[:, 0::2] = 1.  # dy = 1 on every tap: output row i reads input rows i .. i + 2
    moved = modulated_deform_conv2d(x, shifted, torch.ones_like(mask), weight, bias)
    expected = F.conv2d(F.pad(x, (1, 1, 0, 2)), weight, bias)
    torch.testing.assert_close(moved, expected)


def test_gradients_of_input_offsets_mask_and_weights():
    x, offset, mask, weight, bias = (t.requires_grad_() for t in random_case(2, 2, 3, 4))
    offset.data += 0.3  # keep sampling points off the integer grid, where bilinear kinks
    assert torch.autograd.gradcheck(
        modulated_deform_conv2d, (x, offset, mask, weight, bias))


def test_pack_has_mmcv_layout_initialisation_and_a_plain_start():
    from mmcv.ops import ModulatedDeformConv2dPack as MmcvPack  # importable on mmcv-lite too
    torch.manual_seed(5)
    ours = ModulatedDeformConv2dPack(8, 6, 3, padding=1, deform_groups=2)
    torch.manual_seed(5)
    theirs = MmcvPack(8, 6, 3, padding=1, deform_groups=2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), name
    assert ours.conv_offset.out_channels == 2 * 27 and not ours.conv_offset.weight.any()
    x = torch.randn(2, 8, 7, 5)
    # offsets 0 and mask sigmoid(0) = 0.5: half a plain convolution (plus the bias, zero here)
    torch.testing.assert_close(ours(x), 0.5 * F.conv2d(x, ours.weight, ours.bias, padding=1))


def test_pack_splits_conv_offset_into_dy_dx_then_mask_thirds():
    torch.manual_seed(0)
    layer = ModulatedDeformConv2dPack(3, 4, 3, padding=1).double()
    torch.nn.init.normal_(layer.conv_offset.weight, std=0.2)
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    raw = layer.conv_offset(x)
    offset = torch.cat([raw[:, :9], raw[:, 9:18]], dim=1)
    expected = reference_dcn_v2(x, offset, raw[:, 18:].sigmoid(), layer.weight.detach(),
                                layer.bias.detach(), 1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-10, atol=1e-10)


@needs_full_mmcv
def test_forward_and_gradients_equal_mmcv_float64():
    from mmcv.ops import ModulatedDeformConv2dPack as MmcvPack
    torch.manual_seed(0)
    theirs = MmcvPack(6, 5, 3, padding=1).double()
    torch.nn.init.normal_(theirs.conv_offset.weight, std=0.3)
    torch.nn.init.normal_(theirs.conv_offset.bias, std=0.5)
    ours = ModulatedDeformConv2dPack(6, 5, 3, padding=1).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    grads = []
    for layer in (ours, theirs):
        inputs = x.clone().requires_grad_()
        layer.zero_grad()
        out = layer(inputs)
        weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        (out * weights).sum().backward()
        grads.append((out.detach(), inputs.grad, layer.weight.grad, layer.conv_offset.weight.grad))
    for name, a, b in zip(('output', 'input grad', 'weight grad', 'offset-conv grad'), *grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=name)
