# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The stand-in ``mmcv._ext`` kernels (torchvision) called through ``mmcv.ops``' own Python ops:
gradients by finite differences and known values everywhere, and equality with mmcv 2.1.0's
compiled kernels (outputs and gradients, float32 and float64, edge cases) where full mmcv is
installed (``DEEPMARK_MMCV=full bash tools/setup_env.sh``; skipped otherwise)."""
import contextlib
import functools

import pytest
import torch
import torch.nn.functional as F

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops, use_stand_in_kernels

needs_full_mmcv = pytest.mark.skipif(not mmcv_has_compiled_ops(),
                                     reason='full mmcv (compiled ops) is not installed')


def ops():
    import mmcv.ops
    return mmcv.ops


def random_rois(num, generator, size=(20, 24), batch=2, spill=6., dtype=torch.float64):
    """(num, 5) rois, some reaching ``spill`` pixels outside the (h, w) = ``size`` image."""
    corner = torch.rand(num, 2, generator=generator, dtype=dtype) * (
        torch.tensor(size[::-1], dtype=dtype) + spill) - spill
    extent = torch.rand(num, 2, generator=generator, dtype=dtype) * 12 + 0.2
    index = torch.randint(batch, (num, 1), generator=generator).to(dtype)
    return torch.cat([index, corner, corner + extent], dim=1)


def dcn_case(generator, dtype, deform_groups=1, groups=1, scale=2.5, size=(7, 6)):
    x = torch.randn(2, 4, *size, generator=generator, dtype=dtype)
    offset = torch.randn(2, 18 * deform_groups, *size, generator=generator, dtype=dtype) * scale
    offset[0, :3] += 40.  # taps sampling far outside the image
    mask = torch.rand(2, 9 * deform_groups, *size, generator=generator, dtype=dtype)
    weight = torch.randn(6, 4 // groups, 3, 3, generator=generator, dtype=dtype)
    bias = torch.randn(6, generator=generator, dtype=dtype)
    return x, offset, mask, weight, bias


def run(op, inputs, stand_in, backward=True):
    """``op(*inputs)`` and the gradients of a fixed weighting of it w.r.t. float inputs, on the
    stand-in kernels or on the installed ones (forward and backward both)."""
    leaves = [t.detach().clone().requires_grad_(backward and t.is_floating_point())
              if isinstance(t, torch.Tensor) else t for t in inputs]
    with use_stand_in_kernels() if stand_in else contextlib.nullcontext():
        out = op(*leaves)
        if out.requires_grad:
            weight = torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out)
            (out * weight).sum().backward()
    grads = [t.grad for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
    return [out.detach()] + [g if g is not None else torch.zeros(()) for g in grads]


# ------------------------------------------------------------------ the stand-in on its own
def test_roi_align_and_roi_pool_known_values_and_finite_difference_gradients():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 20, 24, generator=generator, dtype=torch.float64)
    rois = random_rois(6, generator)
    gradcheck = functools.partial(torch.autograd.gradcheck, fast_mode=True)
    with use_stand_in_kernels():
        flat = ops().roi_align(torch.full((1, 2, 8, 8), 3.), torch.tensor([[0., 1, 1, 6, 6]]),
                               (2, 2), 1., 0, 'avg', True)
        outside = ops().roi_align(x, torch.tensor([[0., -30, -30, -20, -20]], dtype=x.dtype),
                                  (2, 2), 1., 2, 'avg', False)
        for aligned in (True, False):
            assert gradcheck(
                lambda t: ops().roi_align(t, rois, (3, 2), 0.5, 0, 'avg', aligned),
                x.clone().requires_grad_())
        assert gradcheck(lambda t: ops().roi_pool(t, rois, (2, 3), 0.5),
                                        x.clone().requires_grad_())
        empty = ops().roi_align(x, rois[:0], (7, 7), 1., 0, 'avg', True)
    assert torch.equal(flat, torch.full((1, 2, 2, 2), 3.))
    assert not outside.any() and empty.shape == (0, 3, 7, 7)


def test_deform_convs_known_values_and_finite_difference_gradients():
    x, offset, mask, weight, bias = dcn_case(torch.Generator().manual_seed(1), torch.float64,
                                             size=(4, 5))
    offset = offset + 0.3  # off the integer grid, where bilinear sampling kinks
    gradcheck = functools.partial(torch.autograd.gradcheck, fast_mode=True)
    with use_stand_in_kernels():
        plain = ops().deform_conv2d(x, torch.zeros_like(offset), weight, 1, 1, 1, 1, 1)
        modulated = ops().modulated_deform_conv2d(x, torch.zeros_like(offset),
                                                  torch.ones_like(mask), weight, bias, 1, 1)
        assert gradcheck(
            lambda *a: ops().deform_conv2d(*a, 1, 1, 1, 1, 1),
            tuple(t.clone().requires_grad_() for t in (x, offset, weight)))
        assert gradcheck(lambda w: ops().deform_conv2d(x, offset, w, 1, 1, 1, 1, 1),
                         weight.clone().requires_grad_())  # weight gradient alone
        assert gradcheck(
            lambda *a: ops().modulated_deform_conv2d(*a, 1, 1),
            tuple(t.clone().requires_grad_() for t in (x, offset, mask, weight, bias)))
    torch.testing.assert_close(plain, F.conv2d(x, weight, padding=1))
    torch.testing.assert_close(modulated, F.conv2d(x, weight, bias, padding=1))


def test_nms_offset_and_empty_inputs():
    boxes = torch.tensor([[0., 0., 2., 2.], [2., 0., 4., 2.]])
    scores = torch.tensor([0.9, 0.8])
    with use_stand_in_kernels():
        assert ops().nms(boxes, scores, 0.1)[1].tolist() == [0, 1]  # touching: IoU 0
        assert ops().nms(boxes, scores, 0.1, offset=1)[1].tolist() == [0]  # +1: IoU 3 / 15
        assert ops().nms(boxes[:0], scores[:0], 0.5)[1].shape == (0,)
        dets, keep = ops().soft_nms(boxes, scores, 0.1, method='linear', offset=1)
    assert keep.tolist() == [0, 1]
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.8 * (1 - 3 / 15)]))


# --------------------------------------------------------------- against mmcv's compiled kernels
def assert_same(ours, theirs, dtype, what):
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-4)
    for index, (a, b) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(a, b, **tol, msg=lambda m: f'{what} [{index}]: {m}')


@needs_full_mmcv
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_nms_and_soft_nms_equal_mmcv(dtype):
    """mmcv's compiled NMS / soft-NMS take float32 only: float64 runs of the stand-in are
    compared with them on the same (float32-exact) boxes."""
    generator = torch.Generator().manual_seed(2)
    for seed in range(4):
        boxes = random_rois(300, generator, size=(40, 40), dtype=torch.float32)[:, 1:]
        scores = torch.rand(300, generator=generator)
        for offset in (0, 1):
            cases = [(lambda b, s, t=threshold: ops().nms(b, s, t, offset), f'nms {threshold}')
                     for threshold in (0.3, 0.6)]
            cases += [(lambda b, s, m=method: ops().soft_nms(b, s, 0.3, 0.5, 0.01, m, offset),
                       f'soft_nms {method}') for method in ('naive', 'linear', 'gaussian')]
            for op, what in cases:
                ours = run(lambda b, s: op(b, s)[0], (boxes.to(dtype), scores.to(dtype)), True,
                           False)[0]
                theirs = run(lambda b, s: op(b, s)[0], (boxes, scores), False, False)[0]
                assert ours.shape == theirs.shape and 10 < len(ours) < 300, what
                assert_same([ours.float()], [theirs], torch.float32, f'{what} offset={offset}')
    for stand_in in (True, False):
        assert run(lambda b, s: ops().nms(b, s, 0.5)[0], (boxes[:0], scores[:0]),
                   stand_in, False)[0].shape == (0, 5)


@needs_full_mmcv
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_roi_align_forward_and_backward_equal_mmcv(dtype):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 20, 24, generator=generator, dtype=dtype)
    rois = random_rois(40, generator, dtype=dtype)
    rois[0, 1:] = torch.tensor([-30., -30., -10., -10.])  # wholly outside
    rois[1, 1:] = torch.tensor([30., 20., 30., 20.])  # empty box at the far corner
    for aligned in (True, False):
        for sampling_ratio, scale in ((0, 1.), (2, 0.5)):
            def op(t, r):
                return ops().roi_align(t, r, (7, 6), scale, sampling_ratio, 'avg', aligned)
            assert_same(run(op, (x, rois), True), run(op, (x, rois), False), dtype,
                        f'roi_align aligned={aligned} sampling_ratio={sampling_ratio}')
    empty = [run(lambda t: ops().roi_align(t, rois[:0], (7, 7), 1., 0, 'avg', True), (x,), s)
             for s in (True, False)]
    assert_same(*empty, dtype, 'roi_align, no rois')


@needs_full_mmcv
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_deform_conv_forward_and_backward_equal_mmcv(dtype):
    generator = torch.Generator().manual_seed(4)
    for deform_groups, groups, stride, dilation in ((1, 1, 1, 1), (2, 2, 2, 1), (1, 1, 1, 2)):
        x, offset, _, weight, _ = dcn_case(generator, dtype, deform_groups, groups)
        size = (6 // stride + 1, 5 // stride + 1)  # 3x3 kernel, padding = dilation
        offset = offset[..., :size[0], :size[1]].contiguous()

        def op(t, o, w):
            return ops().deform_conv2d(t, o, w, stride, dilation, dilation, groups,
                                       deform_groups)
        assert_same(run(op, (x, offset, weight), True), run(op, (x, offset, weight), False),
                    dtype, f'deform_conv groups={groups}/{deform_groups} stride={stride}')


@needs_full_mmcv
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_modulated_deform_conv_forward_and_backward_equal_mmcv(dtype):
    generator = torch.Generator().manual_seed(5)
    for deform_groups, groups, with_bias in ((1, 1, True), (2, 2, False)):
        x, offset, mask, weight, bias = dcn_case(generator, dtype, deform_groups, groups)

        def op(t, o, m, w, *b):
            return ops().modulated_deform_conv2d(t, o, m, w, b[0] if b else None, 1, 1, 1,
                                                 groups, deform_groups)
        inputs = (x, offset, mask, weight) + ((bias,) if with_bias else ())
        assert_same(run(op, inputs, True), run(op, inputs, False), dtype,
                    f'modulated_deform_conv groups={groups}/{deform_groups} bias={with_bias}')
    # mmdet's DyHead: offsets / mask of a finer level drive a coarser level's convolution
    x, offset, mask, weight, bias = dcn_case(generator, dtype)
    coarse = x[..., :4, :3].contiguous()
    inputs = (coarse, offset, mask, weight, bias)
    assert_same(run(lambda *a: ops().modulated_deform_conv2d(*a, 1, 1), inputs, True),
                run(lambda *a: ops().modulated_deform_conv2d(*a, 1, 1), inputs, False), dtype,
                'modulated_deform_conv, offsets of a finer grid')


@needs_full_mmcv
def test_mmcv_has_no_cpu_roi_pool_to_compare_with():
    with pytest.raises(Exception, match='roi_pool'):
        ops().roi_pool(torch.rand(1, 1, 4, 4), torch.tensor([[0., 0, 0, 2, 2]]), (2, 2), 1.)
