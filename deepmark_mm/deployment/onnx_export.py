# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Export a DeepMark network to ONNX: the six maps (:class:`DeepMarkExportWrapper`) or, with
the decoding (:class:`DeepMarkPostprocess`) exported apart and joined, fixed-size detections."""
import copy
import io
import json
import os
import os.path as osp
import warnings
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from torch import Tensor
from torch.onnx import symbolic_helper

from deepmark_mm.apis.config_resolution import load_deepmark_config
from deepmark_mm.datasets.keypoint_metainfo import (config_dataset_metainfo, config_flip_indices,
                                                    config_test_pipeline)
from deepmark_mm.engine.hooks import head_keypoint_metainfo
from deepmark_mm.ops import ModulatedDeformConv2d
from deepmark_mm.utils import load_model_checkpoint
from .fold_zero_pads import fold_zero_pads

DEFAULT_OPSET, DEFORM_CONV_OPSET = 17, 19
NETWORK_PREFIX, POSTPROCESS_PREFIX = 'network/', 'postprocess/'

#: Graph input: (B, 3, H, W) float32, BGR, normalised and padded by the config's preprocessor.
INPUT_NAME = 'input'

#: Network outputs, in order; shapes at stride 4 of the input (``Hf = H / 4``).
OUTPUT_NAMES: Tuple[str, ...] = (
    'center_heatmap',  # (B, 13, Hf, Wf) sigmoid probabilities
    'wh',  # (B, 2, Hf, Wf) box width, height in feature pixels
    'offset',  # (B, 2, Hf, Wf) sub-pixel centre offset
    'kpt_reg',  # (B, 588, Hf, Wf) landmark j at channels (2j, 2j + 1) from the integer centre
    'kpt_heatmap',  # (B, 294, Hf, Wf) sigmoid probabilities, per slot (also for shared channels)
    'kpt_offset',  # (B, 2, Hf, Wf) sub-pixel landmark offset
)

#: Outputs of a ``--postprocess`` graph, in order (network-input pixels; K = ``max_per_img``).
POSTPROCESS_OUTPUT_NAMES: Tuple[str, ...] = (
    'bboxes',  # (B, K, 4) float32 xyxy
    'scores',  # (B, K) float32, descending; 0 on padding rows
    'labels',  # (B, K) int64 category; -1 on padding rows
    'keypoints',  # (B, K, J, 2) float32 (x, y); 0 on slots outside the category and padding rows
    'keypoint_scores',  # (B, K, J) float32; 0 outside the category and on padding rows
)


#: The network part of a self-contained graph without flip: ``kpt_reg`` replaced by the branch's
#: hidden features (B, C, Hf, Wf), its last 1x1 convolution run at the decoded centres only.
KPT_REG_FEATURES_NAMES = OUTPUT_NAMES[:3] + ('kpt_reg_features', ) + OUTPUT_NAMES[4:]


def kpt_reg_last_conv(head: nn.Module) -> Optional[nn.Conv2d]:
    """The ``kpt_reg`` branch's last layer (last level) when it is a plain 1x1 convolution, the
    layer a self-contained graph runs at the decoded centres; None otherwise."""
    try:
        layer = head.kpt_reg_head[-1][-1]
    except (AttributeError, IndexError, TypeError):
        return None
    plain = isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1) and \
        layer.stride == (1, 1) and layer.padding == (0, 0) and layer.groups == 1
    return layer if plain else None


class DeepMarkExportWrapper(nn.Module):
    """Backbone + neck + head, last level, as the head codec's ``prob_maps`` (what it decodes).

    Args:
        detector (nn.Module): A single-stage detector with a ``DeepMarkHead``.
        flip (bool): Run on ``[x, flip(x)]`` (2B maps out) for flip fusion. Defaults to False.
        kpt_reg_features (bool): Output :data:`KPT_REG_FEATURES_NAMES` (the hidden features of
            the ``kpt_reg`` branch in place of its 2J maps). Defaults to False.
    """

    def __init__(self, detector: nn.Module, flip: bool = False,
                 kpt_reg_features: bool = False) -> None:
        super().__init__()
        if kpt_reg_features and kpt_reg_last_conv(detector.bbox_head) is None:
            raise ValueError('kpt_reg_features needs a kpt_reg branch ending in a plain 1x1 '
                             'convolution')
        self.detector = detector
        self.flip = bool(flip)
        self.kpt_reg_features = bool(kpt_reg_features)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) normalised images -> the maps of :data:`OUTPUT_NAMES` (2B with flip)."""
        if self.flip:
            inputs = torch.cat([inputs, inputs.flip(dims=[3])])
        head, hidden = self.detector.bbox_head, []  # hidden: the last kpt_reg convolution's input
        hook = kpt_reg_last_conv(head).register_forward_pre_hook(
            lambda module, args: hidden.append(args[0])) if self.kpt_reg_features else None
        try:
            maps = head.codec.prob_maps(head(self.detector.extract_feat(inputs)))
        finally:
            if hook is not None:
                hook.remove()
        return maps[:3] + (hidden[0], ) + maps[4:] if hidden else maps


class DeepMarkPostprocess(nn.Module):
    """The codec's decoding and default grouping (``decode_rows``, ``rescale=False``, no NMS):
    rows by descending score; padding rows (beyond ``topk``, or at a centre score of 0) get
    score 0, label -1 and zeros.

    Args:
        head (nn.Module): A ``DeepMarkHead`` (its codec).
        input_hw (tuple[int, int]): Network input ``(H, W)``.
        where (str): Config name for messages.
        flip_indices (Tensor, optional): (J,) slot permutation: fuse the maps of ``[x, flip(x)]``
            (2B images) with ``fuse_flip_outputs`` first.
        kpt_reg_features (bool): The maps are :data:`KPT_REG_FEATURES_NAMES` (not with flip
            fusion, which averages whole maps). Defaults to False.
    """

    def __init__(self, head: nn.Module, input_hw: Tuple[int, int], where: str = 'the model',
                 flip_indices: Optional[Tensor] = None, kpt_reg_features: bool = False) -> None:
        super().__init__()
        codec = head.codec
        if codec.nms is not None:
            raise ValueError(
                f'{where}: test_cfg.nms={codec.nms!r} cannot run inside the ONNX graph; export '
                'without --postprocess (decode with OnnxDeepMark) or set model.test_cfg.nms=None')
        if codec.grouping != 'nearest':
            raise ValueError(f'{where}: only the default nearest (CenterNetKeypointGrouping) rule '
                             f'runs inside the ONNX graph, the config uses '
                             f'{codec.grouping_repr()}; export without --postprocess')
        self.codec = codec
        self.input_hw = tuple(int(v) for v in input_hw)
        self.flip_indices = flip_indices
        conv = kpt_reg_last_conv(head)
        if kpt_reg_features and (flip_indices is not None or conv is None):
            raise ValueError('kpt_reg_features needs no flip fusion (it averages whole kpt_reg '
                             'maps) and a kpt_reg branch ending in a plain 1x1 convolution')
        self.kpt_reg_last = conv if kpt_reg_features else None

    def forward(self, *maps: Tensor) -> Tuple[Tensor, ...]:
        """The six maps (B or, with flip, 2B images) -> :data:`POSTPROCESS_OUTPUT_NAMES`."""
        if self.flip_indices is not None:
            from deepmark_mm.models.test_time_augs import fuse_flip_outputs
            maps = fuse_flip_outputs(*maps, self.flip_indices)
        feat_h, feat_w = maps[0].shape[2:]
        scored, order, _ = self.codec.decode_rows(tuple(maps), kpt_reg_last=self.kpt_reg_last)
        ranked = type(scored)(*(_rows(field, order) for field in scored))
        input_h, input_w = self.input_hw
        stride = ranked.bboxes.new_tensor([input_w / feat_w, input_h / feat_h])
        real = ranked.center_scores > 0  # (B, M)
        real_float = real.to(ranked.scores.dtype)
        outputs = (
            ranked.bboxes * stride.repeat(2) * real_float.unsqueeze(-1),
            ranked.scores * real_float,
            torch.where(real, ranked.labels, torch.full_like(ranked.labels, -1)),
            ranked.keypoints * stride * real_float[..., None, None],
            ranked.keypoint_scores * real_float.unsqueeze(-1),
        )
        missing = self.codec.max_per_img - order.shape[1]
        if missing > 0:  # pad dim 1 to max_per_img rows
            outputs = tuple(
                F.pad(value, (0, 0) * (value.dim() - 2) + (0, missing), value=-1 if i == 2 else 0)
                for i, value in enumerate(outputs))
        return outputs


def _rows(field: Tensor, order: Tensor) -> Tensor:
    """Rows ``order`` (B, M) of a (B, K, ...) field."""
    index = order.reshape(order.shape + (1, ) * (field.dim() - 2))
    return field.gather(1, index.expand(order.shape + field.shape[2:]))


@symbolic_helper.parse_args('v', 'v', 'v', 'v', 'v', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'b')
def _deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                   dilation_h, dilation_w, groups, offset_groups, use_mask):
    """``torchvision::deform_conv2d`` -> ONNX ``DeformConv`` (X, W, offset, B[, mask]): same
    layout and semantics; torchvision registers no symbolic for it."""
    inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
    return g.op('DeformConv', *inputs, dilations_i=[dilation_h, dilation_w], group_i=groups,
                offset_group_i=offset_groups, pads_i=[pad_h, pad_w, pad_h, pad_w],
                strides_i=[stride_h, stride_w])


def register_deform_conv_symbolic() -> None:
    """Let the TorchScript ONNX exporter write ``torchvision::deform_conv2d`` (idempotent)."""
    import torchvision  # noqa: F401  (registers the torchvision:: ops)
    torch.onnx.register_custom_op_symbolic('torchvision::deform_conv2d', _deform_conv2d,
                                           DEFORM_CONV_OPSET)


def export_opset(model: nn.Module, where: str = 'the model') -> int:
    """17, or 19 (``DeformConv``) when ``model`` has :mod:`deepmark_mm.ops` deformable convs;
    ValueError for other (mmcv's) deformable convolutions, which the exporter cannot write."""
    names = [name for name, module in model.named_modules()
             if 'DeformConv' in type(module).__name__
             and not isinstance(module, ModulatedDeformConv2d)]
    if names:
        shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
        raise ValueError(f'{where} has {len(names)} deformable convolution(s) ({shown}) that are '
                         'not deepmark_mm.ops ones, which ONNX cannot write; build the model with '
                         'deepmark_mm.ops or model.neck.use_dcn=False')
    has_dcn = any(isinstance(module, ModulatedDeformConv2d) for module in model.modules())
    return DEFORM_CONV_OPSET if has_dcn else DEFAULT_OPSET


def config_input_size(cfg: Config) -> Tuple[int, int]:
    """``(h, w)`` made by the test pipeline's ``CenterAffine`` (ValueError without one)."""
    for transform in config_test_pipeline(cfg):
        if str(transform.get('type', '')).split('.')[-1] == 'CenterAffine':
            size = transform.get('input_size', 512)
            width, height = (size, size) if isinstance(size, int) else size
            return int(height), int(width)
    raise ValueError(f'{getattr(cfg, "filename", "the config")}: the test pipeline has no '
                     'CenterAffine; pass the input shape explicitly')


def build_detector(config: Union[str, Config],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu',
                   cfg_options: Optional[dict] = None) -> nn.Module:
    """A detector in eval mode (``model.cfg`` set), ``checkpoint`` loaded by the project's fit
    rule (``load_partial`` in the config allows a partial fit); random init without one."""
    cfg = load_deepmark_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint is not None:
        load_model_checkpoint(model, _load_checkpoint(checkpoint, map_location='cpu'), checkpoint,
                              getattr(cfg, 'filename', None) or str(config),
                              load_partial=bool(cfg.get('load_partial', False)))
    else:
        model.init_weights()
    model.cfg = cfg
    return model.to(device).eval()


def decode_settings(codec: nn.Module) -> str:
    """The ``decode_settings`` entry of a codec: ``topk=..,kernel=..,...``."""
    return ','.join(f'{key}={value}' for key, value in codec.decode_settings().items())


#: The landmark metainfo keys a self-contained graph stores (:func:`keypoint_metadata_props`).
KEYPOINT_METADATA_KEYS = ('classes', 'keypoint_slices', 'flip_indices', 'sigmas', 'skeletons')


def keypoint_metadata_props(meta: Mapping) -> Dict[str, str]:
    """``metadata_props`` entries (JSON strings) of a checked landmark metainfo's
    :data:`KEYPOINT_METADATA_KEYS`."""
    return {key: json.dumps(meta[key], default=lambda value: value.tolist())
            for key in KEYPOINT_METADATA_KEYS}


def export_onnx(config: Union[str, Config],
                checkpoint: Optional[str],
                out_file: str,
                input_shape: Optional[Union[int, Sequence[int]]] = None,
                cfg_options: Optional[dict] = None,
                verify: bool = True,
                model: Optional[nn.Module] = None,
                postprocess: bool = False,
                flip: bool = False,
                batch_size: Optional[int] = None) -> Dict:
    """Export input :data:`INPUT_NAME` (B, 3, H, W) -> :data:`OUTPUT_NAMES` (or, with
    ``postprocess``, :data:`POSTPROCESS_OUTPUT_NAMES`), batch axis dynamic, H and W fixed; the
    metadata holds the input size and normalisation, the landmark set and the decode settings.

    Args:
        config (str | Config): Config path or name.
        checkpoint (str, optional): Checkpoint (None: random weights).
        out_file (str): ``.onnx`` path (folders are created).
        input_shape (int | Sequence[int], optional): ``H`` (= ``W``) or ``(H, W)``, a multiple
            of the preprocessor's ``pad_size_divisor``; the test pipeline's size when None.
        cfg_options (dict, optional): Config overrides.
        verify (bool): ``onnx.checker`` and onnxruntime vs PyTorch on a random batch.
        model (nn.Module, optional): The already built detector of ``config``.
        postprocess (bool): Decoding and landmark grouping (``test_cfg``) inside the graph.
        flip (bool): Flip fusion inside the graph (needs ``postprocess``).
        batch_size (int, optional): A fixed batch size instead of the dynamic axis.

    Returns:
        dict: ``onnx_file``, ``input_shape``, ``output_names``, ``opset``, ``postprocess``,
        ``flip`` and, with ``verify``, ``max_abs_diff`` per output.
    """
    import onnx
    cfg = load_deepmark_config(config, cfg_options)
    where = getattr(cfg, 'filename', None) or str(config)
    model = (build_detector(cfg, checkpoint) if model is None else model).cpu().eval()
    opset = export_opset(model, where)
    if input_shape is None:
        input_shape = config_input_size(cfg)
    hw = (input_shape, ) * 2 if isinstance(input_shape, int) else tuple(input_shape)
    if len(hw) != 2:
        raise ValueError(f'input shape must be an int or (h, w), got {input_shape}')
    height, width = map(int, hw)
    divisor = int(cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1) or 1)
    if height % divisor or width % divisor:
        raise ValueError(f'input shape ({height}, {width}) is not a multiple of the '
                         f'pad_size_divisor {divisor} of {where}: the preprocessor would pad it')
    if flip and not postprocess:
        raise ValueError('flip fusion runs inside the graph only with postprocess (decoding)')
    if batch_size is not None and batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    keypoint_props = keypoint_metadata_props(head_keypoint_metainfo(
        model.bbox_head, config_dataset_metainfo(cfg), f'{where} test_dataloader'))
    decoder = None
    # kpt_reg's last convolution at the decoded centres
    at_peaks = postprocess and not flip and kpt_reg_last_conv(model.bbox_head) is not None
    if postprocess:
        flip_indices = None
        if flip:  # the TTA model's check of the config's flip pairs
            from deepmark_mm.models.test_time_augs import DeepMarkTTAModel
            flip_indices = DeepMarkTTAModel(module=model, flip=True,
                                            flip_indices=config_flip_indices(cfg)).flip_indices
        decoder = DeepMarkPostprocess(model.bbox_head, (height, width), where, flip_indices,
                                      kpt_reg_features=at_peaks).eval()
    register_deform_conv_symbolic()
    network_names = KPT_REG_FEATURES_NAMES if at_peaks else OUTPUT_NAMES
    wrapper = DeepMarkExportWrapper(model, flip=flip, kpt_reg_features=at_peaks).eval()
    onnx_model = _export(wrapper, (torch.zeros(1, 3, height, width), ), (INPUT_NAME, ),
                         network_names, opset)
    fold_zero_pads(onnx_model, INPUT_NAME, (1, 3, height, width))
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(batch_size or 2, 3, height, width, generator=generator)
    graph: Callable = wrapper
    output_names = POSTPROCESS_OUTPUT_NAMES if postprocess else OUTPUT_NAMES
    preprocessor = cfg.model.get('data_preprocessor', {})
    metadata = dict(
        deepmark_config=osp.basename(where),
        input_hw=f'{height},{width}',
        input_format='BGR, (pixel - mean) / std, NCHW float32',
        mean=','.join(str(v) for v in preprocessor.get('mean', [])),
        std=','.join(str(v) for v in preprocessor.get('std', [])),
        heatmaps='sigmoid probabilities (center_heatmap, kpt_heatmap)',
        outputs=','.join(output_names))
    if decoder is not None:
        with torch.no_grad():
            maps = wrapper(batch)
        onnx_model = _join(onnx_model, _export(decoder, maps, network_names,
                                               POSTPROCESS_OUTPUT_NAMES, opset), network_names)
        graph = lambda inputs: decoder(*wrapper(inputs))  # noqa: E731
        metadata.update(postprocess='1', flip_fusion=str(int(flip)),
                        decode_settings=decode_settings(decoder.codec),
                        grouping=decoder.codec.grouping_repr())
    onnx.helper.set_model_props(onnx_model, dict(metadata, **keypoint_props))
    if batch_size is not None:
        from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed
        make_dim_param_fixed(onnx_model.graph, 'batch', int(batch_size))
        fix_output_shapes(onnx_model)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    onnx.save(onnx_model, out_file)
    info: Dict = dict(onnx_file=out_file, input_shape=(batch_size or 'batch', 3, height, width),
                      output_names=list(output_names), opset=opset,
                      postprocess=bool(postprocess), flip=bool(flip))
    if verify:
        from .onnx_deepmark import compare_with_pytorch  # the runtime side imports this module
        onnx.checker.check_model(out_file)
        info['max_abs_diff'] = compare_with_pytorch(graph, out_file, batch, output_names)
    return info


def _export(module: nn.Module, args: Sequence[torch.Tensor], input_names: Sequence[str],
            output_names: Sequence[str], opset: int):
    """``torch.onnx.export`` (TorchScript exporter) with a dynamic batch axis, as a ModelProto."""
    import onnx
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # tracer and deprecation warnings
        torch.onnx.export(module, tuple(args), buffer, input_names=list(input_names),
                          output_names=list(output_names), opset_version=opset,
                          dynamic_axes={name: {0: 'batch'}
                                        for name in tuple(input_names) + tuple(output_names)},
                          do_constant_folding=True, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def _join(network, decoding, map_names: Sequence[str]):
    """Network (input -> six ``map_names``) then decoding (maps -> detections), one ModelProto."""
    import onnx
    from onnx import compose
    joined = compose.merge_models(
        compose.add_prefix(network, NETWORK_PREFIX, rename_inputs=False, rename_outputs=False),
        compose.add_prefix(decoding, POSTPROCESS_PREFIX, rename_inputs=False,
                           rename_outputs=False),
        io_map=[(name, name) for name in map_names], producer_name='deepmark_mm')
    # merge_models lists each domain once per part; the quantizer wants one entry
    versions: Dict[str, int] = {}
    for entry in joined.opset_import:
        versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    del joined.opset_import[:]
    joined.opset_import.extend(onnx.helper.make_opsetid(*item) for item in versions.items())
    return joined
