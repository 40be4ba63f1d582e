# Copyright (c) deepmark_mm contributors. All rights reserved.
from .onnx_deepmark import OnnxDeepMark, OnnxDeepMarkModel, compare_with_pytorch, create_session
from .onnx_export import (INPUT_NAME, OUTPUT_NAMES, POSTPROCESS_OUTPUT_NAMES, DeepMarkExportWrapper,
                          DeepMarkPostprocess, build_detector, config_input_size, export_onnx,
                          export_opset)
from .onnx_quantize import preprocessed_batches, quantize_onnx

__all__ = [
    'DeepMarkExportWrapper', 'DeepMarkPostprocess', 'INPUT_NAME', 'OUTPUT_NAMES',
    'POSTPROCESS_OUTPUT_NAMES', 'OnnxDeepMark', 'OnnxDeepMarkModel',
    'build_detector', 'compare_with_pytorch', 'config_input_size', 'create_session',
    'export_onnx', 'export_opset', 'preprocessed_batches', 'quantize_onnx'
]
