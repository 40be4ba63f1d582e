# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Post-training static int8 (QDQ) quantization of an exported graph (onnxruntime's quantizer);
the decoding nodes and the layers that output the six maps stay float."""
import copy
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, Sequence

import numpy as np
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from deepmark_mm.apis import build_inference_pipeline
from deepmark_mm.datasets.keypoint_metainfo import config_test_pipeline
from .onnx_export import INPUT_NAME, OUTPUT_NAMES, POSTPROCESS_PREFIX


def preprocessed_batches(images: Sequence[str], cfg: Config,
                         input_hw: Sequence[int]) -> Iterator[np.ndarray]:
    """(1, 3, H, W) float32 network inputs of ``images`` at the graph's ``input_hw``: the
    config's test pipeline, then its data preprocessor."""
    from mmengine.dataset import pseudo_collate
    pipeline = build_inference_pipeline(config_test_pipeline(cfg),
                                        input_size=(int(input_hw[1]), int(input_hw[0])))
    preprocessor = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor))
    for path in images:
        with torch.no_grad():
            inputs = preprocessor(pseudo_collate([pipeline(path)]), False)['inputs']
        yield inputs.numpy().astype(np.float32)


def float_nodes(graph, int8_maps: Sequence[str] = ()) -> List[str]:
    """Nodes of ``graph`` (GraphProto) kept float: the decoding ones and, per map, the last
    convolution (unless in ``int8_maps``) and the sigmoid / per-slot ``Gather`` after it."""
    unknown = sorted(set(int8_maps) - set(OUTPUT_NAMES))
    if unknown:
        raise ValueError(f'int8_maps: {unknown} are not maps; the maps are {list(OUTPUT_NAMES)}')
    produced_by = {output: node for node in graph.node for output in node.output}
    kept = [node.name for node in graph.node if node.name.startswith(POSTPROCESS_PREFIX)]
    for name in OUTPUT_NAMES:
        node = produced_by.get(name)
        if name in int8_maps and node is None:
            raise ValueError(f'int8_maps: this graph has no {name} map (a self-contained graph '
                             'runs the kpt_reg convolution at the decoded centres, in float)')
        while node is not None and node.op_type in ('Sigmoid', 'Identity', 'Gather', 'Conv'):
            if name not in int8_maps or node.op_type != 'Conv':
                kept.append(node.name)
            node = produced_by.get(node.input[0]) if node.op_type != 'Conv' else None
    return kept


def quantize_onnx(in_file: str, out_file: str, calibration_inputs: Sequence[np.ndarray],
                  int8_maps: Sequence[str] = ()) -> Dict:
    """Write an int8 (QDQ) copy of ``in_file`` calibrated on (b, 3, H, W) ``calibration_inputs``;
    ``int8_maps``: maps whose last convolution is quantized too (faster, coarser).

    Returns:
        dict: ``onnx_file``, ``num_calibration_images``, ``float_nodes`` (count),
        ``float_bytes``, ``int8_bytes``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if not calibration_inputs:
        raise ValueError('int8 calibration needs at least one input batch')

    class Reader(CalibrationDataReader):
        feeds = iter([{INPUT_NAME: batch} for batch in calibration_inputs])

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as folder:
        prepared = osp.join(folder, 'prepared.onnx')
        # ONNX shape inference, as onnxruntime recommends (node names are kept)
        quant_pre_process(in_file, prepared, skip_optimization=True, skip_symbolic_shape=True)
        model = onnx.load(prepared)
        _inline_identity_initializers(model.graph)
        onnx.save(model, prepared)
        excluded = float_nodes(model.graph, int8_maps)
        quantize_static(prepared, out_file, Reader(), per_channel=True,
                        activation_type=QuantType.QUInt8, nodes_to_exclude=excluded,
                        extra_options=dict(ActivationSymmetric=False, WeightSymmetric=True))
    num_images = int(sum(len(batch) for batch in calibration_inputs))
    target = onnx.load(out_file)  # the quantizer keeps the metadata
    onnx.helper.set_model_props(target, {  # re-quantizing replaces the entry
        **{prop.key: prop.value for prop in target.metadata_props},
        'quantization': f'int8 QDQ static, per_channel=True, MinMax, {num_images} calibration '
                        f'images, int8 map convolutions: {",".join(int8_maps) or "none"}'})
    onnx.save(target, out_file)
    onnx.checker.check_model(out_file)
    return dict(onnx_file=out_file, num_calibration_images=num_images, float_nodes=len(excluded),
                float_bytes=osp.getsize(in_file), int8_bytes=osp.getsize(out_file))


def _inline_identity_initializers(graph) -> None:
    """Replace ``Identity(initializer)`` nodes (the exporter's shared parameters) by a copy of the
    initializer: the quantizer wants every bias as an initializer."""
    import onnx
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == 'Identity' and node.input[0] in initializers:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(initializers[node.input[0]])
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
