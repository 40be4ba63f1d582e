# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Export a DeepMark network to ONNX (backbone + neck + head maps, dynamic batch axis).

Every config exports: plain networks at opset 17, the paper's DLA-34 with modulated deformable
convolutions (:mod:`deepmark_mm.ops`, torchvision kernels) at opset 19 as ONNX ``DeformConv``,
which onnxruntime runs. Deformable convolutions of other libraries (mmcv's) are refused by
:func:`check_exportable`. By default decoding (top-K, boxes, landmark grouping) is not part of
the graph; :class:`~deepmark_mm.deployment.OnnxDeepMark` runs it with the head's own code. With
``postprocess`` it is (:mod:`.postprocess_wrapper`): the graph returns fixed-size detections.
"""
import copy
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint

from deepmark_mm.datasets.landmark_metainfo import config_flip_indices, config_test_pipeline
from deepmark_mm.apis.config_resolution import load_deepmark_config
from deepmark_mm.utils import load_model_checkpoint
from deepmark_mm.ops import ModulatedDeformConv2d
from .deform_conv_symbolic import DEFORM_CONV_OPSET, register_deform_conv_symbolic
from .export_wrapper import INPUT_NAME, OUTPUT_NAMES, DeepMarkExportWrapper
from .landmark_metadata import landmark_metadata_props, model_landmark_metainfo
from .postprocess_export import (NETWORK_PREFIX, POSTPROCESS_PREFIX, FlipFusedPostprocess,
                                 attach_postprocess)
from .postprocess_wrapper import POSTPROCESS_OUTPUT_NAMES, DeepMarkPostprocess

DEFAULT_OPSET = 17


def find_deformable_convs(model: nn.Module) -> Tuple[List[str], List[str]]:
    """Names of the deformable convolution modules of ``model``, exportable or not.

    Args:
        model (nn.Module): Any model.

    Returns:
        tuple[list[str], list[str]]: Modules of :mod:`deepmark_mm.ops` (torchvision kernels,
        exported as ONNX ``DeformConv``) and any other deformable convolution (mmcv's DCN /
        DCNv2, which the exporter cannot write), in ``named_modules`` order.
    """
    exportable, other = [], []
    for name, module in model.named_modules():
        if isinstance(module, ModulatedDeformConv2d):
            exportable.append(name)
        elif 'DeformConv' in type(module).__name__:
            other.append(name)
    return exportable, other


def default_opset(model: nn.Module) -> int:
    """17, or :data:`DEFORM_CONV_OPSET` (19) when ``model`` has deformable convolutions."""
    return DEFORM_CONV_OPSET if find_deformable_convs(model)[0] else DEFAULT_OPSET


def check_exportable(model: nn.Module, where: str = 'the model',
                     opset: int = DEFORM_CONV_OPSET) -> None:
    """Refuse models that ONNX at ``opset`` cannot express.

    Args:
        model (nn.Module): The detector.
        where (str): Config name for the message.
        opset (int): The export's opset.

    Raises:
        ValueError: For deformable convolutions other than :mod:`deepmark_mm.ops` ones, or for
            those below opset 19; the message says what exports.
    """
    exportable, other = find_deformable_convs(model)
    if other:
        shown = ', '.join(other[:3]) + (', ...' if len(other) > 3 else '')
        raise ValueError(
            f'{where} has {len(other)} deformable convolution(s) ({shown}) that are not '
            'deepmark_mm.ops.ModulatedDeformConv2dPack (e.g. mmcv.ops ones); the ONNX exporter '
            'cannot write them. Build the model with deepmark_mm.ops (the DLA neck does) or '
            'plain convolutions: model.neck.use_dcn=False.')
    if exportable and opset < DEFORM_CONV_OPSET:
        raise ValueError(
            f'{where} has {len(exportable)} deformable convolution(s) ({exportable[0]}, ...): '
            f'ONNX DeformConv needs opset >= {DEFORM_CONV_OPSET}, got opset {opset}.')


def config_input_size(cfg: Config) -> Tuple[int, int]:
    """``(h, w)`` of the network input made by the config's test pipeline (``CenterAffine``).

    Raises:
        ValueError: When the test pipeline has no ``CenterAffine``.
    """
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
    """Build a detector in eval mode, ``checkpoint`` loaded by the fit rule (random init if None).

    The checkpoint must fit the model unless ``load_partial=True`` is in the config or
    ``cfg_options`` (see :func:`deepmark_mm.utils.load_model_checkpoint`).

    Args:
        config (str | Config): Config path or name (see
            :func:`~deepmark_mm.apis.resolve_config_path`).
        checkpoint (str, optional): Checkpoint file.
        device (str): Torch device.
        cfg_options (dict, optional): Config overrides.

    Returns:
        nn.Module: The detector, ``model.cfg`` set.
    """
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


def _as_hw(shape: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(shape, int):
        return shape, shape
    if len(shape) != 2:
        raise ValueError(f'input shape must be an int or (h, w), got {shape}')
    return int(shape[0]), int(shape[1])


def export_onnx(config: Union[str, Config],
                checkpoint: Optional[str],
                out_file: str,
                input_shape: Optional[Union[int, Sequence[int]]] = None,
                opset: Optional[int] = None,
                cfg_options: Optional[dict] = None,
                verify: bool = True,
                model: Optional[nn.Module] = None,
                postprocess: bool = False,
                flip: bool = False,
                batch_size: Optional[int] = None) -> Dict:
    """Export backbone + neck + head maps (and decoding) to ONNX with a dynamic batch axis.

    Graph: input :data:`INPUT_NAME` ``(B, 3, H, W)`` float32 (BGR, normalised by the config's
    data preprocessor), outputs :data:`OUTPUT_NAMES` (heatmaps as sigmoid probabilities). ``H``,
    ``W`` are fixed; the config, input size, conventions and the landmark set (``classes``,
    ``keypoint_slices``, ``flip_indices``, ``sigmas``, ``skeletons``: the config's test dataset
    metainfo, checked against the head, see :mod:`.landmark_metadata`) are stored in the model's
    metadata.
    With ``postprocess`` the outputs are :data:`POSTPROCESS_OUTPUT_NAMES` instead: the head's
    decoding and default landmark grouping (``test_cfg``) inside the graph, ``max_per_img`` rows
    per image in network-input pixels (see :class:`DeepMarkPostprocess`).

    Args:
        config (str | Config): Config path or name.
        checkpoint (str, optional): Checkpoint (None: random weights, for tests).
        out_file (str): ``.onnx`` path (folders are created).
        input_shape (int | Sequence[int], optional): ``H`` (= ``W``) or ``(H, W)``; the config's
            test input size when None. Must be a multiple of the preprocessor's
            ``pad_size_divisor``.
        opset (int, optional): ONNX opset. None: 17, or 19 (``DeformConv``) when the model has
            deformable convolutions.
        cfg_options (dict, optional): Config overrides.
        verify (bool): Check the file with ``onnx.checker`` and compare onnxruntime with PyTorch
            on a random batch of 2.
        model (nn.Module, optional): An already built detector of ``config`` (skips building).
        postprocess (bool): Decoding and landmark grouping inside the graph.
        flip (bool): Flip fusion inside the graph (CenterNet's flip test: the network runs on
            each image and its mirror, see :func:`fuse_flip_outputs`); needs ``postprocess``.
        batch_size (int, optional): A fixed batch size instead of the dynamic axis (onnxruntime's
            ``make_dim_param_fixed``): onnxruntime then folds the graph's shape arithmetic, which
            makes the self-contained graph faster on small devices (docs/deployment.md).

    Returns:
        dict: ``onnx_file``, ``input_shape`` (B, 3, H, W with B = 'batch' or ``batch_size``),
        ``output_names``, ``opset``, ``postprocess``, ``flip`` and, with ``verify``,
        ``max_abs_diff`` per output.

    Raises:
        ValueError: For convolutions ONNX cannot express at ``opset`` (see
            :func:`check_exportable`), an input shape the preprocessor would pad, or (with
            ``postprocess``) test_cfg options the graph cannot run.
    """
    cfg = load_deepmark_config(config, cfg_options)
    where = getattr(cfg, 'filename', None) or str(config)
    if model is None:
        model = build_detector(cfg, checkpoint)
    model = model.cpu().eval()
    opset = default_opset(model) if opset is None else int(opset)
    check_exportable(model, where, opset)
    register_deform_conv_symbolic()
    height, width = _as_hw(input_shape) if input_shape is not None else config_input_size(cfg)
    divisor = int(cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1) or 1)
    if height % divisor or width % divisor:
        raise ValueError(f'input shape ({height}, {width}) is not a multiple of the '
                         f'pad_size_divisor {divisor} of {where}: the preprocessor would pad it')
    if flip and not postprocess:
        raise ValueError('flip fusion runs inside the graph only with postprocess (decoding)')
    decoder = _build_postprocess(model, cfg, (height, width), where, flip) if postprocess \
        else None
    wrapper = DeepMarkExportWrapper(model, flip=flip).eval()
    dummy = torch.zeros(1, 3, height, width)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    dynamic_axes = {name: {0: 'batch'} for name in (INPUT_NAME, ) + OUTPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore', category=DeprecationWarning)
        warnings.simplefilter('ignore', category=torch.jit.TracerWarning)
        # The TorchScript exporter: the torch.export-based one needs onnxscript, which the
        # project does not depend on.
        torch.onnx.export(
            wrapper, (dummy, ),
            out_file,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(batch_size or 2, 3, height, width, generator=generator)
    graph: nn.Module = wrapper
    if decoder is not None:
        with torch.no_grad():
            attach_postprocess(out_file, decoder, wrapper(batch), opset)
        graph = nn.Sequential(wrapper, _Unpack(decoder)).eval()
    output_names = list(POSTPROCESS_OUTPUT_NAMES if postprocess else OUTPUT_NAMES)
    extra = _postprocess_metadata(decoder, flip) if decoder is not None else {}
    extra.update(landmark_metadata_props(model_landmark_metainfo(model.bbox_head, cfg, where)))
    _write_metadata(out_file, cfg, where, (height, width), output_names, extra)
    if batch_size is not None:
        _fix_batch_size(out_file, int(batch_size))
    info: Dict = dict(
        onnx_file=out_file,
        input_shape=(batch_size or 'batch', 3, height, width),
        output_names=output_names,
        opset=opset,
        postprocess=bool(postprocess),
        flip=bool(flip))
    if verify:
        import onnx
        onnx.checker.check_model(out_file)
        info['max_abs_diff'] = compare_with_pytorch(graph, out_file, batch, output_names)
    return info


def _fix_batch_size(onnx_file: str, batch_size: int) -> None:
    """Replace the dynamic ``batch`` axis of every input and output by ``batch_size``."""
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    model = onnx.load(onnx_file)
    make_dim_param_fixed(model.graph, 'batch', batch_size)
    fix_output_shapes(model)
    onnx.save(model, onnx_file)


class _Unpack(nn.Module):
    """Calls a module with the tuple the previous one returned."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, outputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
        return self.module(*outputs)


def _build_postprocess(model: nn.Module, cfg: Config, input_hw: Tuple[int, int], where: str,
                       flip: bool) -> nn.Module:
    """The decoding module of ``model`` (flip-fused with the config's ``tta_model`` options)."""
    decoder = DeepMarkPostprocess(model.bbox_head, input_hw, where)
    if not flip:
        return decoder.eval()
    from deepmark_mm.models.test_time_augs import DeepMarkTTAModel
    # the TTA model's own check of the flip pairs (the config's landmark set, else DeepFashion2's)
    tta = DeepMarkTTAModel(module=model, flip=True, flip_indices=config_flip_indices(cfg))
    return FlipFusedPostprocess(decoder, tta.flip_indices).eval()


def _postprocess_metadata(decoder: nn.Module, flip: bool) -> Dict[str, str]:
    """How to read a ``postprocess`` graph."""
    inner = decoder.postprocess if isinstance(decoder, FlipFusedPostprocess) else decoder
    settings = inner.codec.decode_settings()
    return dict(
        postprocess='1',
        flip_fusion=str(int(flip)),
        decode_settings=','.join(f'{key}={value}' for key, value in settings.items()),
        grouping=inner.codec.grouping_repr(),
        coordinates='network-input pixels (x, y)',
        padding_rows='score 0, label -1, zero bboxes, keypoints and keypoint_scores',
        network_node_prefix=NETWORK_PREFIX,
        postprocess_node_prefix=POSTPROCESS_PREFIX)


def _write_metadata(out_file: str, cfg: Config, where: str, input_hw: Tuple[int, int],
                    output_names: Sequence[str], extra: Dict[str, str]) -> None:
    """Store how to feed and read the graph in the ONNX metadata."""
    import onnx
    onnx_model = onnx.load(out_file)
    preprocessor = cfg.model.get('data_preprocessor', {})
    metadata = dict(
        deepmark_config=osp.basename(where),
        input_hw=f'{input_hw[0]},{input_hw[1]}',
        input_format='BGR, (pixel - mean) / std, NCHW float32',
        mean=','.join(str(v) for v in preprocessor.get('mean', [])),
        std=','.join(str(v) for v in preprocessor.get('std', [])),
        heatmaps='sigmoid probabilities (center_heatmap, kpt_heatmap)',
        outputs=','.join(output_names),
        **extra)
    del onnx_model.metadata_props[:]
    for key, value in metadata.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(onnx_model, out_file)


def create_session(onnx_file: str, device: str = 'cpu', num_threads: Optional[int] = None):
    """An onnxruntime session for ``onnx_file``.

    Args:
        onnx_file (str): The model.
        device (str): ``'cpu'`` or ``'cuda'`` (CUDA provider first when onnxruntime has it).
        num_threads (int, optional): Intra-op threads; onnxruntime's default when None.

    Returns:
        onnxruntime.InferenceSession: The session.

    Raises:
        FileNotFoundError: When the file does not exist.
    """
    import onnxruntime as ort
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX model {onnx_file} not found')
    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
    providers = ['CPUExecutionProvider']
    if str(device).startswith('cuda') and \
            'CUDAExecutionProvider' in ort.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    return ort.InferenceSession(onnx_file, sess_options=options, providers=providers)


def compare_with_pytorch(wrapper: nn.Module,
                         onnx_file: str,
                         inputs: torch.Tensor,
                         output_names: Sequence[str] = OUTPUT_NAMES,
                         num_threads: Optional[int] = 1) -> Dict[str, float]:
    """Largest absolute difference of each output between onnxruntime and PyTorch.

    Args:
        wrapper (nn.Module): The exported module (:class:`DeepMarkExportWrapper`, or it
            followed by the decoding).
        onnx_file (str): Its ONNX file.
        inputs (Tensor): (B, 3, H, W) input batch.
        output_names (Sequence[str]): Names of the module's outputs, in order.
        num_threads (int, optional): onnxruntime threads.

    Returns:
        dict[str, float]: Output name -> max |onnxruntime - torch|.
    """
    session = create_session(onnx_file, num_threads=num_threads)
    onnx_outputs = session.run(None, {INPUT_NAME: inputs.numpy().astype(np.float32)})
    with torch.no_grad():
        torch_outputs = wrapper(inputs)
    return {
        name: float(np.abs(ours.astype(np.float64) - theirs.double().numpy()).max())
        for name, ours, theirs in zip(output_names, onnx_outputs, torch_outputs)
    }
