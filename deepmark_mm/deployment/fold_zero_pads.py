# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A graph pass of the export: constant-zero ``Pad`` nodes folded into the next ``Conv``."""
from typing import Sequence

import numpy as np


def fold_zero_pads(model, input_name: str, input_shape: Sequence[int]) -> int:
    """Fold every constant-zero, spatial-only ``Pad`` whose one consumer is a ``Conv`` (timm's
    ``tf_`` "same" padding; onnx / onnxruntime fold no computed pads) into that ``Conv``'s
    ``pads`` of ``model`` (ModelProto), in place, the pads read by one run on zeros of
    (B, 3, H, W) ``input_shape`` at ``input_name``; dead nodes are removed. Returns the count."""
    import onnx
    import onnxruntime as ort
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    pairs = []
    for pad in graph.node:
        users = consumers.get(pad.output[0], []) if pad.op_type == 'Pad' else []
        mode = next((a.s for a in pad.attribute if a.name == 'mode'), b'constant')
        if len(users) == 1 and users[0].op_type == 'Conv' and users[0].input[0] == pad.output[0] \
                and mode == b'constant' and not any(pad.input[2:]) \
                and not any(a.name == 'auto_pad' and a.s not in (b'', b'NOTSET')
                            for a in users[0].attribute):
            pairs.append((pad, users[0]))
    if not pairs:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(pad.input[1], onnx.TensorProto.INT64, None)
        for pad, _ in pairs)
    session = ort.InferenceSession(probe.SerializeToString(), providers=['CPUExecutionProvider'])
    amounts = session.run(None, {input_name: np.zeros(input_shape, np.float32)})
    folded = 0
    for (pad, conv), value in zip(pairs, amounts):
        begin, end = value[:4].tolist(), value[4:].tolist()
        if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(begin + end) < 0:
            continue  # batch / channel padding or cropping: not a convolution's padding
        old = next((list(a.ints) for a in conv.attribute if a.name == 'pads'), [0, 0, 0, 0])
        kept = [a for a in conv.attribute if a.name != 'pads']
        del conv.attribute[:]
        conv.attribute.extend(kept + [onnx.helper.make_attribute(
            'pads', [old[0] + begin[2], old[1] + begin[3], old[2] + end[2], old[3] + end[3]])])
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    _remove_dead_nodes(graph)
    return folded


def _remove_dead_nodes(graph) -> None:
    """Drop nodes none of whose outputs reach a graph output (the pads' size arithmetic)."""
    needed = {output.name for output in graph.output}
    alive = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            alive.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(alive))
