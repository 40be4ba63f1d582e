# Copyright (c) deepmark_mm contributors. All rights reserved.
"""CenterNet's ``DLAUp``: a pyramid of ``IDAUp`` stages from the coarsest level downward."""
from typing import List, Sequence

from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor, nn

from .ida_up import IDAUp


class DLAUp(BaseModule):
    """Hierarchical up-path over ``n`` levels with strides ``scales`` (relative).

    Stage ``i`` (``i = 0 .. n - 2``) is an :class:`IDAUp` rooted at level ``j = n - 2 - i``; it
    replaces the maps above level ``j`` by their aggregations at level ``j``'s resolution, so after
    stage ``i`` the last map has the resolution of level ``j``. The output collects the last map
    after every stage, finest first.

    Args:
        channels (Sequence[int]): Channels of the ``n`` input levels, finest first.
        scales (Sequence[int]): Relative stride of each level (e.g. ``1, 2, 4, 8``).
        use_dcn (bool): Deformable 3x3 convs.
        norm_cfg (dict): Norm layer config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels: Sequence[int],
                 scales: Sequence[int],
                 use_dcn: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(channels) != len(scales) or len(channels) < 2:
            raise ValueError(f'DLAUp needs >= 2 levels and one scale per level, got channels='
                             f'{list(channels)}, scales={list(scales)}')
        channels = [int(c) for c in channels]
        current_channels = list(channels)
        current_scales = [int(s) for s in scales]
        self.ida_stages = nn.ModuleList()
        for root in range(len(channels) - 2, -1, -1):
            up_factors = [s // current_scales[root] for s in current_scales[root:]]
            self.ida_stages.append(
                IDAUp(
                    channels[root],
                    current_channels[root:],
                    up_factors,
                    use_dcn=use_dcn,
                    norm_cfg=norm_cfg))
            num_above = len(channels) - root - 1
            current_scales[root + 1:] = [current_scales[root]] * num_above
            current_channels[root + 1:] = [channels[root]] * num_above

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """Run the stages.

        Args:
            features (Sequence[Tensor]): ``n`` maps, level ``k`` of shape (B, channels[k], H_k,
                W_k).

        Returns:
            list[Tensor]: ``n`` maps, entry ``k`` of shape (B, channels[k], H_k, W_k): the fully
            aggregated map at level ``k``'s resolution (the last entry is the input's last map).
        """
        layers = list(features)
        if len(layers) != len(self.ida_stages) + 1:
            raise ValueError(f'DLAUp expects {len(self.ida_stages) + 1} maps, got {len(layers)}')
        outs = [layers[-1]]
        for stage_index, ida in enumerate(self.ida_stages):
            root = len(layers) - 2 - stage_index
            layers[root:] = ida(layers[root:])
            outs.insert(0, layers[-1])
        return outs
