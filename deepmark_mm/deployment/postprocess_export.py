# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Append the decoding graph to an exported network: one self-contained ONNX file.

The network graph (``input`` -> the six maps) and the decoding graph (the six maps ->
:data:`POSTPROCESS_OUTPUT_NAMES`) are exported separately and joined with ``onnx.compose``; the
node names of each part start with :data:`NETWORK_PREFIX` / :data:`POSTPROCESS_PREFIX`, so tools
(the int8 quantizer) can tell them apart. The six map tensors keep their names inside the graph.
"""
import os
import tempfile
import warnings
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .export_wrapper import OUTPUT_NAMES
from .postprocess_wrapper import POSTPROCESS_OUTPUT_NAMES, DeepMarkPostprocess

NETWORK_PREFIX = 'network/'
POSTPROCESS_PREFIX = 'postprocess/'


class FlipFusedPostprocess(nn.Module):
    """Flip fusion (:func:`fuse_flip_outputs`) then :class:`DeepMarkPostprocess`.

    Takes the maps of ``[x, flip(x)]`` (2B images, see
    :class:`~deepmark_mm.deployment.DeepMarkExportWrapper` with ``flip``).

    Args:
        postprocess (DeepMarkPostprocess): The decoding.
        flip_indices (Tensor): (J,) slot permutation of a horizontal flip.
    """

    def __init__(self, postprocess: DeepMarkPostprocess, flip_indices: Tensor) -> None:
        super().__init__()
        self.postprocess = postprocess
        self.register_buffer('flip_indices', flip_indices.clone(), persistent=False)

    def forward(self, *maps: Tensor) -> Tuple[Tensor, ...]:
        """(2B, ...) maps -> the outputs of :class:`DeepMarkPostprocess` for B images."""
        from deepmark_mm.models.test_time_augs import fuse_flip_outputs
        return self.postprocess(*fuse_flip_outputs(*maps, self.flip_indices))


def export_postprocess(postprocess: nn.Module, maps: Tuple[Tensor, ...], out_file: str,
                       opset: int) -> None:
    """Export a decoding module (six maps in) with a dynamic batch axis.

    Args:
        postprocess (nn.Module): :class:`DeepMarkPostprocess` or :class:`FlipFusedPostprocess`.
        maps (tuple[Tensor]): Example maps (batch >= 2 so no size is traced as a constant 1).
        out_file (str): ``.onnx`` path.
        opset (int): ONNX opset (the network's).
    """
    dynamic_axes = {name: {0: 'batch'} for name in OUTPUT_NAMES + POSTPROCESS_OUTPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore', category=DeprecationWarning)
        warnings.simplefilter('ignore', category=torch.jit.TracerWarning)
        warnings.simplefilter('ignore', category=UserWarning)
        torch.onnx.export(
            postprocess,
            tuple(maps),
            out_file,
            input_names=list(OUTPUT_NAMES),
            output_names=list(POSTPROCESS_OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)


def join_network_and_postprocess(network_file: str, postprocess_file: str,
                                 out_file: str) -> None:
    """Feed the network's six maps to the decoding graph; write one model.

    Args:
        network_file (str): ``input`` -> :data:`OUTPUT_NAMES`.
        postprocess_file (str): :data:`OUTPUT_NAMES` -> :data:`POSTPROCESS_OUTPUT_NAMES`.
        out_file (str): The joined model (``input`` -> :data:`POSTPROCESS_OUTPUT_NAMES`).
    """
    import onnx
    from onnx import compose
    network = compose.add_prefix(
        onnx.load(network_file), NETWORK_PREFIX, rename_inputs=False, rename_outputs=False)
    postprocess = compose.add_prefix(
        onnx.load(postprocess_file), POSTPROCESS_PREFIX, rename_inputs=False,
        rename_outputs=False)
    joined = compose.merge_models(
        network,
        postprocess,
        io_map=[(name, name) for name in OUTPUT_NAMES],
        producer_name='deepmark_mm')
    # merge_models lists each domain once per part; tools (the quantizer) want one entry
    versions = {}
    for entry in joined.opset_import:
        versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    del joined.opset_import[:]
    joined.opset_import.extend(onnx.helper.make_opsetid(domain, version)
                               for domain, version in versions.items())
    onnx.save(joined, out_file)


def attach_postprocess(network_file: str, postprocess: nn.Module, maps: Tuple[Tensor, ...],
                       opset: int, out_file: Optional[str] = None) -> None:
    """Replace ``network_file`` (or write ``out_file``) by network + decoding.

    Args:
        network_file (str): Exported network.
        postprocess (nn.Module): The decoding module.
        maps (tuple[Tensor]): Example network outputs.
        opset (int): The network's opset.
        out_file (str, optional): Where to write; ``network_file`` when None.
    """
    handle, postprocess_file = tempfile.mkstemp(suffix='.onnx')
    os.close(handle)
    try:
        export_postprocess(postprocess, maps, postprocess_file, opset)
        join_network_and_postprocess(network_file, postprocess_file, out_file or network_file)
    finally:
        os.remove(postprocess_file)
