# Copyright (c) deepmark_mm contributors. All rights reserved.
from .export_wrapper import INPUT_NAME, OUTPUT_NAMES, DeepMarkExportWrapper
from .onnx_deepmark import OnnxDeepMark, OnnxDeepMarkModel
from .onnx_quantize import list_images, preprocessed_batches, quantize_onnx
from .postprocess_wrapper import POSTPROCESS_OUTPUT_NAMES, DeepMarkPostprocess
from .onnx_export import (DEFAULT_OPSET, build_detector, check_exportable, compare_with_pytorch,
                          config_input_size, create_session, default_opset, export_onnx,
                          find_deformable_convs)

__all__ = [
    'DEFAULT_OPSET', 'DeepMarkExportWrapper', 'INPUT_NAME', 'OUTPUT_NAMES', 'OnnxDeepMark',
    'OnnxDeepMarkModel', 'build_detector', 'check_exportable',
    'compare_with_pytorch', 'config_input_size', 'create_session', 'default_opset',
    'export_onnx', 'find_deformable_convs', 'list_images', 'preprocessed_batches',
    'quantize_onnx', 'POSTPROCESS_OUTPUT_NAMES', 'DeepMarkPostprocess'
]
