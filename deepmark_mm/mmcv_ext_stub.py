# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A stand-in ``mmcv._ext`` for mmcv-lite: mmcv's common kernels on torchvision / torch.

mmdet imports ``mmcv.ops``, which loads the compiled ``mmcv._ext``. Without full mmcv,
:func:`install_mmcv_ext_stub` registers a stand-in with the kernels of :data:`KERNELS` (mmcv's
argument order, in-place outputs); any other kernel raises :class:`MissingMmcvOpError` when called.
"""
import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Callable, Dict, Iterator, NoReturn, Optional

import torch
from torch import Tensor

STUB_NAME = 'mmcv._ext'


class MissingMmcvOpError(RuntimeError):
    """An mmcv kernel was called that only mmcv's compiled extension has."""


def _missing(kernel: str, why: str) -> MissingMmcvOpError:
    return MissingMmcvOpError(
        f'mmcv kernel `{kernel}` needs full mmcv: {why}. Install full mmcv (compiled ops) for '
        'it: `DEEPMARK_MMCV=full bash tools/setup_env.sh` builds mmcv 2.1.0 from source into the '
        'venv, or `mim install "mmcv==2.1.0"` where a wheel exists for your torch.')


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int = 0) -> Tensor:
    """Indices (K,) of the boxes (N, 4) kept by greedy NMS, by descending score (N,); ``offset``
    1 (mmcv's legacy ``+1`` box size) moves the far corners by 1."""
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    return torch.ops.torchvision.nms(boxes, scores.to(boxes.dtype), float(iou_threshold))


def softnms(boxes: Tensor, scores: Tensor, dets: Tensor, iou_threshold: float, sigma: float,
            min_score: float, method: int, offset: int) -> Tensor:
    """Soft-NMS of ``boxes`` (N, 4), ``scores`` (N,): returns the (K,) kept indices and fills
    the first K rows of ``dets`` (N, 5) with their boxes and scores.

    Decay by the IoU with the chosen box: method 0 (naive) ``IoU < t``, 1 (linear) ``1 - IoU``
    where ``IoU >= t``, 2 (gaussian) ``exp(-IoU^2 / sigma)``. A box below ``min_score`` is swapped
    with the last remaining one, as in mmcv, so ties break alike.
    """
    dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    rows, current = boxes.to(dtype), scores.to(dtype).clone()
    order, num_left, position, kept = list(range(len(rows))), len(rows), 0, []
    while position < num_left:
        best = position + int(current[torch.tensor(order[position:num_left])].argmax())
        order[position], order[best] = order[best], order[position]
        chosen = order[position]
        dets[position, :4], dets[position, 4] = rows[chosen], current[chosen]
        kept.append(chosen)
        others = torch.tensor(order[position + 1:num_left], dtype=torch.long)
        if len(others):
            box, other_boxes = rows[chosen], rows[others]
            inter = (torch.minimum(box[2:], other_boxes[:, 2:]) -
                     torch.maximum(box[:2], other_boxes[:, :2]) + offset).clamp(min=0).prod(1)
            union = (box[2:] - box[:2] + offset).prod() + (
                other_boxes[:, 2:] - other_boxes[:, :2] + offset).prod(1) - inter
            iou = inter / union
            if method == 2:
                weight = torch.exp(-(iou * iou) / sigma)
            elif method == 1:
                weight = torch.where(iou >= iou_threshold, 1 - iou, torch.ones_like(iou))
            else:
                weight = (iou < iou_threshold).to(dtype)
            current[others] *= weight
            low = dict(zip(order[position + 1:num_left], (current[others] < min_score).tolist()))
            slot = position + 1
            while slot < num_left:  # replay mmcv's swap-with-last removals
                if low[order[slot]]:
                    order[slot] = order[num_left - 1]
                    num_left -= 1
                else:
                    slot += 1
        position += 1
    return torch.tensor(kept, dtype=torch.long)


def _refuse_max_pool(kernel: str, pool_mode: int) -> None:
    if pool_mode == 0:
        raise _missing(kernel, "RoIAlign pool_mode='max' has no torchvision kernel (the "
                       "stand-in provides pool_mode='avg', mmdet's default)")


def roi_align_forward(input: Tensor, rois: Tensor, output: Tensor, *argmax_yx: Tensor,
                      **kw) -> None:
    """RoIAlign (avg): ``output`` (R, C, ph, pw) from ``input`` (B, C, H, W) and ``rois`` (R, 5)
    ``(batch, x1, y1, x2, y2)``; ``sampling_ratio`` 0 is adaptive, ``aligned`` shifts by -0.5."""
    _refuse_max_pool('roi_align_forward', kw['pool_mode'])
    output.copy_(torch.ops.torchvision.roi_align(
        input, rois.to(input.dtype), kw['spatial_scale'], kw['aligned_height'],
        kw['aligned_width'], kw['sampling_ratio'], kw['aligned']))


def roi_align_backward(grad_output: Tensor, rois: Tensor, argmax_y: Tensor, argmax_x: Tensor,
                       grad_input: Tensor, **kw) -> None:
    """Adds the RoIAlign (avg) gradient for ``grad_output`` (R, C, ph, pw) to ``grad_input``
    (B, C, H, W)."""
    _refuse_max_pool('roi_align_backward', kw['pool_mode'])
    grad_input += torch.ops.torchvision._roi_align_backward(
        grad_output, rois.to(grad_output.dtype), kw['spatial_scale'], kw['aligned_height'],
        kw['aligned_width'], *grad_input.shape, kw['sampling_ratio'], kw['aligned'])


def roi_pool_forward(input: Tensor, rois: Tensor, output: Tensor, argmax: Tensor, **kw) -> None:
    """RoIPool: fills ``output`` (R, C, ph, pw) with bin maxima of ``input`` (B, C, H, W) and
    ``argmax`` (R, C, ph, pw) with their ``y * W + x`` (-1 for an empty bin)."""
    out, arg = torch.ops.torchvision.roi_pool(input, rois.to(input.dtype), kw['spatial_scale'],
                                              kw['pooled_height'], kw['pooled_width'])
    output.copy_(out)
    argmax.copy_(arg)


def roi_pool_backward(grad_output: Tensor, rois: Tensor, argmax: Tensor, grad_input: Tensor,
                      **kw) -> None:
    """Adds ``grad_output`` (R, C, ph, pw) to ``grad_input`` (B, C, H, W) at ``argmax``."""
    grad_input += torch.ops.torchvision._roi_pool_backward(
        grad_output, rois.to(grad_output.dtype), argmax.int(), kw['spatial_scale'],
        kw['pooled_height'], kw['pooled_width'], *grad_input.shape)


def _dcn_args(input: Tensor, weight: Tensor, offset: Tensor, mask: Optional[Tensor],
              bias: Optional[Tensor], kw: dict) -> tuple:
    """torchvision's ``deform_conv2d`` arguments (offsets are (dy, dx) per tap in both) from
    mmcv's keyword arguments (DCN's ``dH``, ``padH``... or DCNv2's ``stride_h``, ``pad_h``...)."""
    use_mask = mask is not None and mask.numel() > 0
    if not use_mask:
        mask = input.new_zeros(input.shape[0], 1)
    if bias is None or bias.numel() == 0:
        bias = input.new_zeros(weight.shape[0])
    v2 = 'stride_h' in kw
    geometry = [kw[k] for k in (('stride_h', 'stride_w', 'pad_h', 'pad_w', 'dilation_h',
                                 'dilation_w') if v2 else
                                ('dH', 'dW', 'padH', 'padW', 'dilationH', 'dilationW'))]
    return (input, weight, offset, mask, bias, *geometry, kw['group'], kw['deformable_group'],
            use_mask)


def _on_output_grid(field: Tensor, size: torch.Size) -> Tensor:
    """Offsets or mask (B, C, h, w) as (B, C, Ho, Wo): mmcv's DCNv2 kernel reads each sample's
    leading values as a flat (C, Ho, Wo) array, and mmdet's DyHead relies on it."""
    if field.shape[-2:] == size:
        return field
    if field[0].numel() < field.shape[1] * size.numel():
        raise ValueError(f'DCNv2 offsets / mask {tuple(field.shape)} are smaller than the '
                         f'output {tuple(size)}')
    return field.reshape(len(field), -1)[:, :field.shape[1] * size.numel()].reshape(
        *field.shape[:2], *size)


def deform_conv_forward(input: Tensor, weight: Tensor, offset: Tensor, output: Tensor,
                        *buffers: Tensor, **kw) -> None:
    """DCN (v1): ``output`` (B, C_out, Ho, Wo) from ``input`` (B, C_in, H, W), ``weight``
    (C_out, C_in / group, kH, kW) and ``offset`` (B, 2 * deformable_group * kH * kW, Ho, Wo)."""
    output.copy_(torch.ops.torchvision.deform_conv2d(*_dcn_args(input, weight, offset, None,
                                                                None, kw)))


def deform_conv_backward_input(input: Tensor, offset: Tensor, gradOutput: Tensor,
                               gradInput: Tensor, gradOffset: Tensor, weight: Tensor,
                               columns: Tensor, **kw) -> None:
    """Fills ``gradInput`` and ``gradOffset``; keeps the weight gradient in ``columns`` (mmcv's
    scratch buffer) for :func:`deform_conv_backward_parameters`."""
    grads = torch.ops.torchvision._deform_conv2d_backward(
        gradOutput.contiguous(), *_dcn_args(input, weight, offset, None, None, kw))
    gradInput.copy_(grads[0])
    gradOffset.copy_(grads[2])
    columns.resize_(grads[1].numel()).copy_(grads[1].flatten())


def deform_conv_backward_parameters(input: Tensor, offset: Tensor, gradOutput: Tensor,
                                    gradWeight: Tensor, columns: Tensor, ones: Tensor,
                                    **kw) -> None:
    """Adds ``scale`` times the weight gradient to ``gradWeight`` (C_out, C_in / group, kH, kW)."""
    if columns.numel() == gradWeight.numel():  # computed by deform_conv_backward_input
        grad_weight = columns.view_as(gradWeight)
    else:  # the weight gradient does not depend on the weight: any one of its shape will do
        grad_weight = torch.ops.torchvision._deform_conv2d_backward(
            gradOutput.contiguous(), *_dcn_args(input, gradWeight, offset, None, None, kw))[1]
    gradWeight.add_(grad_weight, alpha=kw['scale'])


def modulated_deform_conv_forward(input: Tensor, weight: Tensor, bias: Tensor, ones: Tensor,
                                  offset: Tensor, mask: Tensor, output: Tensor, columns: Tensor,
                                  **kw) -> None:
    """DCNv2: as :func:`deform_conv_forward` with ``mask`` (B, deformable_group * kh * kw, Ho,
    Wo) modulating each tap and ``bias`` (C_out,) when ``with_bias``."""
    size = output.shape[-2:]
    output.copy_(torch.ops.torchvision.deform_conv2d(*_dcn_args(
        input, weight, _on_output_grid(offset, size), _on_output_grid(mask, size),
        bias if kw['with_bias'] else None, kw)))


def modulated_deform_conv_backward(input: Tensor, weight: Tensor, bias: Tensor, ones: Tensor,
                                   offset: Tensor, mask: Tensor, columns: Tensor,
                                   grad_input: Tensor, grad_weight: Tensor, grad_bias: Tensor,
                                   grad_offset: Tensor, grad_mask: Tensor, grad_output: Tensor,
                                   **kw) -> None:
    """Fills the gradients of input, weight, bias (when ``with_bias``), offset and mask; each
    into the leading values of its sample (see :func:`_on_output_grid`)."""
    size = grad_output.shape[-2:]
    grads = torch.ops.torchvision._deform_conv2d_backward(grad_output.contiguous(), *_dcn_args(
        input, weight, _on_output_grid(offset, size), _on_output_grid(mask, size),
        bias if kw['with_bias'] else None, kw))
    for target, value in zip((grad_input, grad_weight, grad_offset, grad_mask), grads):
        target.view(len(target), -1)[:, :value[0].numel()].copy_(value.flatten(1))
    if kw['with_bias']:
        grad_bias.copy_(grads[4])


#: The kernels the stand-in provides, by mmcv's name: the one list of what runs on mmcv-lite.
KERNELS: Dict[str, Callable] = {f.__name__: f for f in (
    nms, softnms, roi_align_forward, roi_align_backward, roi_pool_forward, roi_pool_backward,
    deform_conv_forward, deform_conv_backward_input, deform_conv_backward_parameters,
    modulated_deform_conv_forward, modulated_deform_conv_backward)}


class _StandInExtModule(types.ModuleType):
    """Stand-in ``mmcv._ext``: :data:`KERNELS` as attributes; any other name a raising function."""

    def __init__(self, name: str = STUB_NAME) -> None:
        super().__init__(name, 'deepmark_mm stand-in for mmcv._ext (torchvision kernels)')
        self.__dict__.update(KERNELS)

    def __getattr__(self, op_name: str) -> Callable[..., NoReturn]:
        if op_name.startswith('__'):
            raise AttributeError(op_name)

        def missing_op(*args, **kwargs) -> NoReturn:
            raise _missing(op_name, 'this mmcv is mmcv-lite, without compiled ops, and the '
                           f'stand-in mmcv._ext provides only {", ".join(KERNELS)}')

        missing_op.__name__ = op_name
        return missing_op


#: mmcv.ops modules whose ``ext_module`` calls the kernels of :data:`KERNELS`.
_MMCV_OP_MODULES = ('nms', 'roi_align', 'roi_pool', 'deform_conv', 'modulated_deform_conv')


@contextlib.contextmanager
def use_stand_in_kernels() -> Iterator[types.ModuleType]:
    """Route ``mmcv.ops``' NMS / RoI / DCN ops to the stand-in kernels within the block, also
    with full mmcv installed (for parity tests)."""
    stand_in = _StandInExtModule()
    modules = [importlib.import_module(f'mmcv.ops.{name}') for name in _MMCV_OP_MODULES]
    saved = [module.ext_module for module in modules]
    try:
        for module in modules:
            module.ext_module = stand_in
        yield stand_in
    finally:
        for module, ext_module in zip(modules, saved):
            module.ext_module = ext_module


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv is full mmcv (a real ``mmcv._ext``), not mmcv-lite."""
    module = sys.modules.get(STUB_NAME)
    if module is not None:
        return not isinstance(module, _StandInExtModule)
    return importlib.util.find_spec(STUB_NAME) is not None


def install_mmcv_ext_stub() -> bool:
    """Register the stand-in ``mmcv._ext`` without full mmcv; True when it is in place."""
    if mmcv_has_compiled_ops():
        return False
    if STUB_NAME not in sys.modules:
        import mmcv  # the parent package must exist before its submodule is registered
        stub = _StandInExtModule()
        # no loader: mmengine's mmcv_full_available() / mmcv's check_ops_exist() stay False
        stub.__spec__ = importlib.machinery.ModuleSpec(STUB_NAME, loader=None)
        sys.modules[STUB_NAME] = stub
        mmcv._ext = stub
    return True
