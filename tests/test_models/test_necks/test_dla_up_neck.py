# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DLAUpNeck: bilinear init, CenterNet's aggregation order, DCN path on CPU."""
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from deepmark_mm.models.necks import (DepthwiseUpsample, DLAConvBlock, DLAUp, DLAUpNeck, IDAUp,
                                      bilinear_upsample_kernel)

DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def dla_levels(batch: int, side: int, channels=DLA34_CHANNELS, seed: int = 0):
    """Random trunk outputs, level k at stride 2**k."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, c, side // 2**k, side // 2**k, generator=generator)
        for k, c in enumerate(channels)
    ]


def centernet_in_place_up_path(neck: DLAUpNeck, levels):
    """CenterNet's DLASeg up-path written as the original in-place index loops.

    ``IDAUp.forward(layers, startp, endp)`` overwrites ``layers[i]`` for ``i`` in
    ``startp + 1 .. endp - 1``; ``DLAUp`` runs its stages on the whole trunk list and collects
    ``layers[-1]`` after each; DLASeg then runs ``ida_up`` on the first ``last - first`` maps.
    """

    def ida_in_place(ida, layers, start, end):
        for i in range(start + 1, end):
            k = i - start - 1
            layers[i] = ida.nodes[k](
                ida.upsamples[k](ida.projections[k](layers[i])) + layers[i - 1])

    layers = list(levels)
    outs = [layers[-1]]
    for stage, ida in enumerate(neck.dla_up.ida_stages):
        ida_in_place(ida, layers, len(layers) - stage - 2, len(layers))
        outs.insert(0, layers[-1])
    fused = [t.clone() for t in outs[:neck.last_level - neck.first_level]]
    ida_in_place(neck.ida_up, fused, 0, len(fused))
    return fused[-1]


def test_bilinear_kernel_exact_values():
    k4 = bilinear_upsample_kernel(4)
    profile = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(k4, torch.outer(profile, profile))
    k8 = bilinear_upsample_kernel(8)  # factor 4
    profile8 = torch.tensor([1, 3, 5, 7, 7, 5, 3, 1], dtype=torch.float32) / 8
    assert torch.allclose(k8, torch.outer(profile8, profile8))


@pytest.mark.parametrize('factor', [2, 4])
def test_upsample_init_is_bilinear_interpolation(factor):
    """Away from the border the initialised transposed conv equals bilinear resizing."""
    ida = IDAUp(8, [8, 8], [1, factor], use_dcn=False)
    upsample = ida.upsamples[0]
    assert upsample.weight.shape == (8, 1, 2 * factor, 2 * factor)
    x = torch.randn(1, 8, 6, 6)
    ours = upsample(x)
    reference = F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)
    assert ours.shape == reference.shape == (1, 8, 6 * factor, 6 * factor)
    inner = slice(factor, -factor)
    assert torch.allclose(ours[..., inner, inner], reference[..., inner, inner], atol=1e-6)


def test_dla_up_stage_structure():
    dla_up = DLAUp([64, 128, 256, 512], [1, 2, 4, 8], use_dcn=False)
    # CenterNet: ida_0 = IDAUp(256, [256, 512], [1, 2]); ida_1 = IDAUp(128, [128, 256, 256],
    # [1, 2, 2]); ida_2 = IDAUp(64, [64, 128, 128, 128], [1, 2, 2, 2])
    projection_shapes = [[tuple(p.conv.weight.shape[:2]) for p in ida.projections]
                         for ida in dla_up.ida_stages]
    assert projection_shapes == [[(256, 512)], [(128, 256), (128, 256)],
                                 [(64, 128), (64, 128), (64, 128)]]
    strides = [[u.stride[0] for u in ida.upsamples] for ida in dla_up.ida_stages]
    assert strides == [[2], [2, 2], [2, 2, 2]]


def test_neck_output_and_centernet_order():
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, first_level=2, last_level=5, use_dcn=False).eval()
    levels = dla_levels(2, 64)
    with torch.no_grad():
        (out, ) = neck(levels)
        reference = centernet_in_place_up_path(neck, levels)
    assert out.shape == (2, 64, 16, 16)
    assert torch.equal(out, reference)
    # every trunk level from first_level on influences the output
    for k in range(2, 6):
        changed = [t.clone() for t in levels]
        changed[k] = changed[k] + 1.0
        with torch.no_grad():
            assert not torch.allclose(neck(changed)[0], out)
    # levels below first_level are ignored
    changed = [t.clone() for t in levels]
    changed[0].zero_()
    changed[1].zero_()
    with torch.no_grad():
        assert torch.equal(neck(changed)[0], out)


def test_neck_rejects_bad_arguments():
    with pytest.raises(ValueError, match='first_level'):
        DLAUpNeck(DLA34_CHANNELS, first_level=5, last_level=5, use_dcn=False)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=False)
    with pytest.raises(ValueError, match='expects 6 levels'):
        neck(dla_levels(1, 32)[2:])


def test_dcn_block_zero_offsets_is_half_masked_conv():
    """Fresh DCNv2: offsets 0 and mask sigmoid(0) = 0.5, so out = 0.5 * conv(x) + bias."""
    torch.manual_seed(0)
    block = DLAConvBlock(4, 6, use_dcn=True)
    block.init_weights()
    assert torch.count_nonzero(block.conv.conv_offset.weight) == 0
    assert block.conv.conv_offset.weight.shape == (27, 4, 3, 3)
    with torch.no_grad():
        block.conv.bias.uniform_(-1, 1)
    x = torch.randn(2, 4, 9, 7)
    deformable = block.conv(x)
    plain = F.conv2d(x, block.conv.weight, None, padding=1)
    expected = 0.5 * plain + block.conv.bias.view(1, -1, 1, 1)
    assert torch.allclose(deformable, expected, atol=1e-5)


def test_dcn_neck_forward_backward_on_cpu():
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=True)
    neck.init_weights()
    neck.train()
    levels = [t.requires_grad_() for t in dla_levels(2, 64)]
    (out, ) = neck(levels)
    assert out.shape == (2, 64, 16, 16)
    loss = out.square().mean()
    loss.backward()
    offset_grad = neck.ida_up.nodes[-1].conv.conv_offset.weight.grad
    assert offset_grad is not None and torch.isfinite(offset_grad).all()
    assert offset_grad.abs().sum() > 0
    assert levels[5].grad is not None and levels[5].grad.abs().sum() > 0
    assert levels[1].grad is None  # below first_level: unused


@pytest.mark.parametrize('use_dcn, opset', [(False, 17), (True, 19)])
def test_neck_exports_to_onnx(use_dcn, opset):
    """Plain (opset 17) and deformable (ONNX DeformConv, opset 19) necks: the exported graph
    computes what PyTorch does, with non-zero offsets and masks for the deformable one."""
    import io

    import numpy as np
    onnxruntime = pytest.importorskip('onnxruntime')
    from deepmark_mm.deployment.onnx_export import register_deform_conv_symbolic
    register_deform_conv_symbolic()
    torch.manual_seed(0)
    neck = DLAUpNeck(DLA34_CHANNELS, use_dcn=use_dcn).eval()
    offset_convs = [m for n, m in neck.named_modules() if n.endswith('conv_offset')]
    assert len(offset_convs) == (16 if use_dcn else 0)
    for conv in offset_convs:
        nn.init.normal_(conv.weight, std=0.05)
        nn.init.normal_(conv.bias, std=0.5)
    levels = dla_levels(1, 64)
    buffer = io.BytesIO()
    names = [f'level{k}' for k in range(6)]
    torch.onnx.export(
        neck, (levels, ),
        buffer,
        input_names=names,
        output_names=['fused'],
        opset_version=opset,
        dynamo=False)
    session = onnxruntime.InferenceSession(buffer.getvalue())
    feeds = {i.name: levels[names.index(i.name)].numpy() for i in session.get_inputs()}
    (exported, ) = session.run(None, feeds)
    with torch.no_grad():
        (expected, ) = neck(levels)
    assert exported.shape == (1, 64, 16, 16)
    np.testing.assert_allclose(exported, expected.numpy(), atol=1e-4)


def test_depthwise_upsample_is_a_grouped_transposed_conv():
    """Same parameters, state-dict keys and output as CenterNet's nn.ConvTranspose2d layer."""
    torch.manual_seed(0)
    ours = DepthwiseUpsample(6, 4)
    reference = torch.nn.ConvTranspose2d(6, 6, 8, stride=4, padding=2, groups=6, bias=False)
    assert ours.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(ours(x), reference(x))
    assert ours(x).shape == (2, 6, 20, 20)
    with pytest.raises(ValueError, match='factor'):
        DepthwiseUpsample(6, 0)
