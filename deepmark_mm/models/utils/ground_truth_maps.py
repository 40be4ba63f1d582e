# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Swap predicted DeepMark maps for their ground truth (error analysis: which branch limits mAP)."""
from typing import TYPE_CHECKING, Dict, Iterable

from torch import Tensor

if TYPE_CHECKING:
    from ..task_modules import DeepMarkTargets

#: Branch names, in the order of :meth:`DeepMarkCodec.decode`'s maps.
BRANCHES = ('center_heatmap', 'wh', 'offset', 'kpt_reg', 'kpt_heatmap', 'kpt_offset')


def _scatter_at_pixels(dense: Tensor, batch_ids: Tensor, pixel_index: Tensor,
                       values: Tensor) -> Tensor:
    """A copy of ``dense`` (B, C, H, W) with ``values`` (N, C) written at (batch_ids, pixel)."""
    batch_size, channels, height, width = dense.shape
    out = dense.flatten(2).clone()
    out[batch_ids, :, pixel_index] = values.to(out.dtype)
    return out.view(batch_size, channels, height, width)


def substitute_ground_truth(prob_maps: Dict[str, Tensor], targets: 'DeepMarkTargets',
                            branches: Iterable[str]) -> Dict[str, Tensor]:
    """Replace the named branches' maps by the training targets.

    Heatmaps become the target Gaussians; regression maps keep their predictions everywhere except
    at the supervised pixels (garment centres, landmark cells), which get the target values. With
    every branch replaced, decoding returns the ground truth (up to landmarks the targets do not
    supervise), so the mAP gained by replacing one branch is the mAP that branch costs.

    ``prob_maps``: one (B, C, H, W) map per name in :data:`BRANCHES` (heatmaps as
    probabilities); ``targets`` for the same feature size; ``branches``: the names to replace.
    """
    branches = set(branches)
    unknown = branches - set(BRANCHES)
    if unknown:
        raise KeyError(f'substitute_ground_truth: unknown branches {sorted(unknown)}; '
                       f'choose from {BRANCHES}')
    maps = dict(prob_maps)
    at_centres = (targets.center_batch_ids, targets.center_pixel_index)
    sparse = dict(
        wh=(at_centres, targets.wh),
        offset=(at_centres, targets.offset),
        kpt_reg=(at_centres, targets.kpt_reg),
        kpt_offset=((targets.kpt_batch_ids, targets.kpt_pixel_index), targets.kpt_offset))
    for name in branches:
        if name == 'center_heatmap':
            maps[name] = targets.center_heatmap
        elif name == 'kpt_heatmap':
            maps[name] = targets.kpt_heatmap
        else:
            (batch_ids, pixel_index), values = sparse[name]
            maps[name] = _scatter_at_pixels(maps[name], batch_ids, pixel_index, values)
    return maps
