# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Export a DeepMark network to ONNX: the six maps, or (``postprocess``) fixed-size detections.

Plain networks export at opset 17, :mod:`deepmark_mm.ops` deformable convolutions at opset 19 as
ONNX ``DeformConv``. The decoding graph is exported apart and joined with ``onnx.compose``; node
names start with :data:`NETWORK_PREFIX` / :data:`POSTPROCESS_PREFIX` (the int8 quantizer keeps
the latter float). The landmark set goes into the ``metadata_props`` as JSON strings
(:func:`keypoint_metadata_props`; read back by ``onnx_deepmark.read_keypoint_metadata``).
"""
import copy
import io
import json
import os
import os.path as osp
import warnings
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from torch.onnx import symbolic_helper

from deepmark_mm.apis.config_resolution import load_deepmark_config
from deepmark_mm.datasets.keypoint_metainfo import (config_dataset_metainfo, config_flip_indices,
                                                    config_test_pipeline)
from deepmark_mm.engine.hooks import head_keypoint_metainfo
from deepmark_mm.ops import ModulatedDeformConv2d
from deepmark_mm.utils import load_model_checkpoint
from .fold_zero_pads import fold_zero_pads
from .export_wrapper import (INPUT_NAME, KPT_REG_FEATURES_NAMES, OUTPUT_NAMES,
                             POSTPROCESS_OUTPUT_NAMES, DeepMarkExportWrapper, DeepMarkPostprocess,
                             kpt_reg_last_conv)

DEFAULT_OPSET, DEFORM_CONV_OPSET = 17, 19
NETWORK_PREFIX, POSTPROCESS_PREFIX = 'network/', 'postprocess/'


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
    """17, or 19 (``DeformConv``) when ``model`` has :mod:`deepmark_mm.ops` deformable convs.

    Raises:
        ValueError: For other deformable convolutions (mmcv's), which the exporter cannot write.
    """
    names = [name for name, module in model.named_modules()
             if 'DeformConv' in type(module).__name__
             and not isinstance(module, ModulatedDeformConv2d)]
    if names:
        shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
        raise ValueError(
            f'{where} has {len(names)} deformable convolution(s) ({shown}) that are not '
            'deepmark_mm.ops.ModulatedDeformConv2dPack (e.g. mmcv.ops ones); the ONNX exporter '
            'cannot write them. Build the model with deepmark_mm.ops (the DLA neck does) or '
            'plain convolutions: model.neck.use_dcn=False.')
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
    """``metadata_props`` entries (JSON strings) of a checked landmark metainfo: ``classes``,
    ``keypoint_slices``, ``flip_indices``, ``sigmas`` and ``skeletons``."""
    return dict(
        classes=json.dumps(list(meta['classes'])),
        keypoint_slices=json.dumps([list(map(int, s)) for s in meta['keypoint_slices']]),
        flip_indices=json.dumps([int(v) for v in meta['flip_indices']]),
        sigmas=json.dumps([float(v) for v in meta['sigmas']]),
        skeletons=json.dumps([[list(map(int, link)) for link in links]
                              for links in meta['skeletons']]))


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
    ``postprocess``, :data:`POSTPROCESS_OUTPUT_NAMES`), batch axis dynamic, H and W fixed.

    The metadata holds the input size and normalisation, the landmark set (the config's test
    dataset metainfo, checked against the head) and, with ``postprocess``, the decode settings.

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
    """Network (input -> six ``map_names``) then decoding (six maps -> detections), one
    ModelProto."""
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


def create_session(onnx_file: str, device: str = 'cpu', num_threads: Optional[int] = None,
                   spinning: bool = True):
    """An onnxruntime ``InferenceSession`` (CUDA provider first for ``device='cuda'`` when
    available; ``num_threads`` intra-op threads, onnxruntime's default when None).

    ``spinning=False``: idle intra-op threads sleep instead of spinning, for benchmarks that
    alternate several sessions in one process (one session's spinning threads would take the
    cores from the next one's run).
    """
    import onnxruntime as ort
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX model {onnx_file} not found')
    options = ort.SessionOptions()
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if num_threads is not None:
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
    providers = ['CPUExecutionProvider']
    if str(device).startswith('cuda') and \
            'CUDAExecutionProvider' in ort.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    return ort.InferenceSession(onnx_file, sess_options=options, providers=providers)


def compare_with_pytorch(module: Callable, onnx_file: str, inputs: torch.Tensor,
                         output_names: Sequence[str] = OUTPUT_NAMES) -> Dict[str, float]:
    """Output name -> max |onnxruntime - PyTorch| of ``module`` (what was exported) on ``inputs``
    (B, 3, H, W)."""
    session = create_session(onnx_file, num_threads=1)
    onnx_outputs = session.run(None, {INPUT_NAME: inputs.numpy().astype(np.float32)})
    with torch.no_grad():
        torch_outputs = module(inputs)
    return {
        name: float(np.abs(ours.astype(np.float64) - theirs.double().numpy()).max())
        for name, ours, theirs in zip(output_names, onnx_outputs, torch_outputs)
    }
