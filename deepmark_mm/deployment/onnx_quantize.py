# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Post-training static int8 quantization of an exported DeepMark graph (onnxruntime's quantizer).

The network part is quantized in QDQ format (int8 weights, per output channel; uint8
activations, their ranges calibrated on images run through the config's test pipeline and data
preprocessor). The decoding part of a ``postprocess`` graph (nodes named
:data:`POSTPROCESS_PREFIX`...) and the layers that output the six maps (each branch's last
convolution, the heatmap sigmoids) stay float.
"""
import copy
import os
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from deepmark_mm.datasets.landmark_metainfo import config_test_pipeline
from deepmark_mm.apis.inference_inputs import build_inference_pipeline
from .export_wrapper import INPUT_NAME, OUTPUT_NAMES
from .postprocess_export import POSTPROCESS_PREFIX

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def list_images(folder: str, num: int) -> List[str]:
    """The first ``num`` images of ``folder`` (sorted by name).

    Raises:
        FileNotFoundError: When the folder has no image.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'calibration folder {folder} not found')
    images = sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise FileNotFoundError(f'calibration folder {folder} has no {IMAGE_EXTENSIONS} image')
    return images[:num]


def preprocessed_batches(images: Sequence[str], cfg: Config, input_hw: Sequence[int],
                         batch_size: int = 1) -> Iterator[np.ndarray]:
    """Network inputs of ``images``: the config's test pipeline then its data preprocessor.

    Args:
        images (Sequence[str]): Image files.
        cfg (Config): The model's config.
        input_hw (Sequence[int]): The graph's fixed ``(H, W)``.
        batch_size (int): Images per array.

    Yields:
        np.ndarray: (b, 3, H, W) float32 inputs.
    """
    from mmengine.dataset import pseudo_collate
    pipeline = build_inference_pipeline(config_test_pipeline(cfg),
                                        input_size=(int(input_hw[1]), int(input_hw[0])))
    preprocessor = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor))
    for start in range(0, len(images), batch_size):
        data = pseudo_collate([pipeline(path) for path in images[start:start + batch_size]])
        with torch.no_grad():
            inputs = preprocessor(data, False)['inputs']
        yield inputs.numpy().astype(np.float32)


def float_nodes(onnx_file: str, int8_maps: Sequence[str] = ()) -> List[str]:
    """Names of the nodes kept in float: the decoding part and the layers making the six maps.

    The six maps keep float precision: the last convolution of each branch and the heatmap
    sigmoids after them (uint8 would round probabilities to steps of 1/255 and tie the
    neighbouring pixels of a peak, and sizes and offsets to 1/255 of their range).

    Args:
        onnx_file (str): Exported graph.
        int8_maps (Sequence[str]): Maps (of :data:`OUTPUT_NAMES`) whose last convolution is
            quantized all the same (its output in 256 steps of the calibrated range); their
            sigmoids stay float.

    Raises:
        ValueError: For a name that is not a map.
    """
    unknown = sorted(set(int8_maps) - set(OUTPUT_NAMES))
    if unknown:
        raise ValueError(f'int8_maps: {unknown} are not maps; the maps are {list(OUTPUT_NAMES)}')
    import onnx
    graph = onnx.load(onnx_file, load_external_data=False).graph
    produced_by = {output: node for node in graph.node for output in node.output}
    kept = [node.name for node in graph.node if node.name.startswith(POSTPROCESS_PREFIX)]
    for name in OUTPUT_NAMES:
        node = produced_by.get(name)
        # a shared-channel head's per-slot view Gathers its channels (data = the first input)
        while node is not None and node.op_type in ('Sigmoid', 'Identity', 'Gather', 'Conv'):
            if name not in int8_maps or node.op_type != 'Conv':
                kept.append(node.name)
            node = produced_by.get(node.input[0]) if node.op_type != 'Conv' else None
    return kept


def quantize_onnx(in_file: str,
                  out_file: str,
                  calibration_inputs: Sequence[np.ndarray],
                  per_channel: bool = True,
                  calibrate_method: str = 'MinMax',
                  int8_maps: Sequence[str] = ()) -> Dict:
    """Write an int8 (QDQ) copy of an exported graph, calibrated on ``calibration_inputs``.

    Args:
        in_file (str): Float graph from :func:`~deepmark_mm.deployment.export_onnx`.
        out_file (str): Quantized graph (metadata copied, ``quantization`` entry added).
        calibration_inputs (Sequence[np.ndarray]): (b, 3, H, W) preprocessed batches.
        per_channel (bool): One weight scale per output channel.
        calibrate_method (str): onnxruntime ``CalibrationMethod`` name (``MinMax``,
            ``Entropy``, ``Percentile``).
        int8_maps (Sequence[str]): Maps whose last convolution is quantized too (faster,
            coarser maps, see :func:`float_nodes`); none by default.

    Returns:
        dict: ``onnx_file``, ``num_calibration_images``, ``float_nodes`` (count), sizes in bytes.

    Raises:
        ValueError: Without calibration inputs.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if not calibration_inputs:
        raise ValueError('int8 calibration needs at least one input batch')

    class Reader(CalibrationDataReader):

        def __init__(self) -> None:
            self.batches = iter(calibration_inputs)

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    handle, prepared = tempfile.mkstemp(suffix='.onnx')
    os.close(handle)
    try:
        # ONNX shape inference, as onnxruntime recommends before quantizing (the exporter
        # already folded BatchNorm into the convolutions; node names are kept)
        quant_pre_process(in_file, prepared, skip_optimization=True, skip_symbolic_shape=True)
        _inline_identity_initializers(prepared)
        excluded = float_nodes(prepared, int8_maps)
        quantize_static(
            prepared,
            out_file,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=getattr(CalibrationMethod, calibrate_method),
            extra_options=dict(ActivationSymmetric=False, WeightSymmetric=True))
    finally:
        os.remove(prepared)
    _copy_metadata(in_file, out_file, dict(
        quantization=f'int8 QDQ static, per_channel={per_channel}, {calibrate_method}, '
        f'{sum(len(batch) for batch in calibration_inputs)} calibration images, '
        f'int8 map convolutions: {",".join(int8_maps) or "none"}'))
    onnx.checker.check_model(out_file)
    return dict(
        onnx_file=out_file,
        num_calibration_images=int(sum(len(batch) for batch in calibration_inputs)),
        float_nodes=len(excluded),
        float_bytes=osp.getsize(in_file),
        int8_bytes=osp.getsize(out_file))


def _inline_identity_initializers(onnx_file: str) -> None:
    """Replace ``Identity(initializer)`` nodes by a copy of the initializer, in place.

    The exporter writes equal parameters (e.g. the zero biases of a fresh model) once and
    ``Identity`` nodes for the others; the quantizer needs every bias as an initializer.
    """
    import onnx
    model = onnx.load(onnx_file)
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == 'Identity' and node.input[0] in initializers:
            copy_tensor = onnx.TensorProto()
            copy_tensor.CopyFrom(initializers[node.input[0]])
            copy_tensor.name = node.output[0]
            graph.initializer.append(copy_tensor)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    onnx.save(model, onnx_file)


def _copy_metadata(in_file: str, out_file: str, extra: Dict[str, str]) -> None:
    """Copy the metadata of ``in_file`` (input format, decode settings) to ``out_file``."""
    import onnx
    source = onnx.load(in_file, load_external_data=False)
    target = onnx.load(out_file)
    entries = {entry.key: entry.value for entry in source.metadata_props}
    entries.update({entry.key: entry.value for entry in target.metadata_props})
    entries.update(extra)
    del target.metadata_props[:]
    for key, value in entries.items():
        entry = target.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(target, out_file)
