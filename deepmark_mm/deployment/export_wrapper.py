# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The exported graph: normalised image in, the head's six last-level maps out."""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor


#: Graph input name: (B, 3, H, W) float32, BGR, ``(pixel - mean) / std`` of the config's
#: data preprocessor, padded like it (H, W multiples of its ``pad_size_divisor``).
INPUT_NAME = 'input'

#: Graph outputs, in order; shapes at stride 4 of the input (``Hf = H / 4``).
OUTPUT_NAMES: Tuple[str, ...] = (
    'center_heatmap',  # (B, 13, Hf, Wf) sigmoid probabilities
    'wh',  # (B, 2, Hf, Wf) box width, height in feature pixels
    'offset',  # (B, 2, Hf, Wf) sub-pixel centre offset
    'kpt_reg',  # (B, 588, Hf, Wf) landmark j at channels (2j, 2j + 1) from the integer centre
    'kpt_heatmap',  # (B, 294, Hf, Wf) sigmoid probabilities, per slot (also for shared channels)
    'kpt_offset',  # (B, 2, Hf, Wf) sub-pixel landmark offset
)


class DeepMarkExportWrapper(nn.Module):
    """Backbone + neck + head of a DeepMark detector, last feature level, heatmaps as probabilities.

    The outputs are the head codec's ``prob_maps`` of the head's outputs, exactly what
    ``DeepMarkCodec.decode`` takes, so decoding and grouping outside the graph run the same code
    as ``DeepMarkHead.predict_by_feat``.

    Args:
        detector (nn.Module): An mmdet single-stage detector (``extract_feat`` + ``bbox_head``)
            whose head is a ``DeepMarkHead``.
        flip (bool): Run the network on ``[x, flip(x)]`` (horizontal mirrors appended, 2B maps
            out) for flip fusion. Defaults to False.
    """

    def __init__(self, detector: nn.Module, flip: bool = False) -> None:
        super().__init__()
        for attribute in ('extract_feat', 'bbox_head'):
            if not hasattr(detector, attribute):
                raise TypeError(f'{type(detector).__name__} has no {attribute}; export needs a '
                                'single-stage detector with a DeepMarkHead')
        self.detector = detector
        self.flip = bool(flip)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Run the network.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            tuple[Tensor]: The six maps of :data:`OUTPUT_NAMES` (2B of each with ``flip``: the
            images, then their mirrors).
        """
        if self.flip:
            inputs = torch.cat([inputs, inputs.flip(dims=[3])])
        head = self.detector.bbox_head
        return head.codec.prob_maps(head(self.detector.extract_feat(inputs)))
