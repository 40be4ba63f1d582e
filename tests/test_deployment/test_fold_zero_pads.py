# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``fold_zero_pads``: TensorFlow-style padding becomes the ``Conv``'s own asymmetric pads."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepmark_mm.deployment.fold_zero_pads import fold_zero_pads


class SamePadded(nn.Module):
    """Pad computed from the input size (as timm's ``pad_same``), then stride-2 convolutions; the
    last pad fills with 1 (not a convolution's zero padding) and must stay."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, groups=4, padding=1)
        self.conv3 = nn.Conv2d(4, 2, 3)

    def forward(self, x):
        extra = x.shape[-1] % 2  # 0 on even sizes: pad right / bottom by 1
        x = self.conv1(F.pad(x, (0, 1 - extra, 0, 1 - extra)))
        x = self.conv2(F.pad(x, (1, 0, 0, 2)))
        return self.conv3(F.pad(x, (1, 1, 1, 1), value=1.0))


def test_zero_pads_fold_into_the_convolutions():
    torch.manual_seed(0)
    module = SamePadded().eval()
    inputs = torch.randn(1, 3, 32, 32)
    buffer = io.BytesIO()
    torch.onnx.export(module, (inputs, ), buffer, input_names=['input'], output_names=['out'],
                      opset_version=17, dynamic_axes={'input': {0: 'batch'}}, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())

    def run(proto):
        session = ort.InferenceSession(proto.SerializeToString(),
                                       providers=['CPUExecutionProvider'])
        return session.run(None, {'input': inputs.numpy()})[0]

    before = run(model)
    assert fold_zero_pads(model, 'input', (1, 3, 32, 32)) == 2
    ops = [node.op_type for node in model.graph.node]
    assert ops.count('Pad') == 1 and ops.count('Conv') == 3
    pads = [next(list(a.ints) for a in node.attribute if a.name == 'pads')
            for node in model.graph.node if node.op_type == 'Conv']
    assert pads[:2] == [[0, 0, 1, 1], [1, 2, 3, 1]]  # (top, left, bottom, right) + own padding
    np.testing.assert_allclose(run(model), before, rtol=0, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(before, module(inputs).numpy(), rtol=0, atol=1e-5)
    onnx.checker.check_model(model)
