# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A head branch (``conv3x3 + ReLU + conv1x1``) evaluated only at the pixels a loss reads."""
from typing import List, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def is_conv3x3_relu_conv1x1(branch: nn.Module) -> bool:
    """Whether ``branch`` is exactly ``Sequential(Conv2d 3x3 (stride 1, padding 1, no dilation
    or groups), ReLU, Conv2d 1x1)``, the branch :class:`BranchAtPixels` computes."""
    if not isinstance(branch, nn.Sequential) or len(branch) != 3:
        return False
    conv3x3, relu, conv1x1 = branch
    return (type(conv3x3) is nn.Conv2d and conv3x3.kernel_size == (3, 3)
            and conv3x3.stride == (1, 1) and conv3x3.padding == (1, 1)
            and conv3x3.dilation == (1, 1) and conv3x3.groups == 1
            and conv3x3.padding_mode == 'zeros' and type(relu) is nn.ReLU
            and type(conv1x1) is nn.Conv2d and conv1x1.kernel_size == (1, 1)
            and conv1x1.stride == (1, 1) and conv1x1.padding == (0, 0) and conv1x1.groups == 1)


def neighbourhood_patches(feat: Tensor, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
    """The zero-padded 3 x 3 neighbourhood of M pixels, flattened ``(ky, kx, channel)``.

    Args:
        feat (Tensor): (B, C, H, W) map, any memory format.
        batch_ids (Tensor): (M,) int64 image of each pixel.
        pixel_index (Tensor): (M,) int64 ``y * W + x`` of each pixel.

    Returns:
        Tensor: (M, 9 * C).
    """
    _, channels, height, width = feat.shape
    padded_width = width + 2
    # (B, H + 2, W + 2, C): one zero-bordered row of channels per pixel
    padded = F.pad(feat.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).reshape(-1, channels)
    ys = torch.div(pixel_index, width, rounding_mode='floor')
    xs = pixel_index - ys * width
    # the window of output pixel (y, x) starts at padded pixel (y, x)
    top_left = (batch_ids * (height + 2) + ys) * padded_width + xs
    offsets = torch.arange(3, device=feat.device)
    window = (offsets[:, None] * padded_width + offsets[None, :]).reshape(-1)  # (9,) ky, kx
    return padded[top_left[:, None] + window[None, :]].reshape(-1, 9 * channels)


def conv3x3_relu_conv1x1_on_patches(patches: Tensor, conv3x3: nn.Conv2d,
                                    conv1x1: nn.Conv2d) -> Tensor:
    """(M, O) ``conv1x1(relu(conv3x3(x)))`` (C -> D -> O channels) at the M pixels whose
    (M, 9 * C) :func:`neighbourhood_patches` are given: the dense convolution's sums (up to
    summation order), with gradients to the patches and both convolutions."""
    kernel = conv3x3.weight.permute(0, 2, 3, 1).reshape(conv3x3.out_channels, -1)
    hidden = F.relu(F.linear(patches, kernel, conv3x3.bias))
    return F.linear(hidden, conv1x1.weight.flatten(1), conv1x1.bias)


class NeighbourhoodCache:
    """The :func:`neighbourhood_patches` of one map, gathered once per set of pixels.

    The wh, offset and kpt_reg branches of a level read the same map at the same garment rows;
    sharing one cache among their :class:`BranchAtPixels` gathers those patches (and their
    gradient) once instead of three times. The patches are kept in float32 (the rows are
    computed in float32, see :meth:`BranchAtPixels.rows`), so a bfloat16 map is also cast once.
    Pixel sets are matched by tensor identity.

    Args:
        feat (Tensor): (B, C, H, W) map.
    """

    def __init__(self, feat: Tensor) -> None:
        self.feat = feat
        self._entries: List[Tuple[Tensor, Tensor, Tensor]] = []

    def patches(self, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, 9 * C) float32 patches of the pixels, see :func:`neighbourhood_patches`."""
        for cached_ids, cached_index, patches in self._entries:
            if cached_ids is batch_ids and cached_index is pixel_index:
                return patches
        patches = neighbourhood_patches(self.feat, batch_ids, pixel_index).float()
        self._entries.append((batch_ids, pixel_index, patches))
        return patches


class BranchAtPixels:
    """A ``conv3x3 + ReLU + conv1x1`` branch's output map that is computed where it is read.

    DeepMark's regression losses read ``wh``, ``offset`` and ``kpt_reg`` only at the pixels
    around each garment centre and ``kpt_offset`` only around each labelled landmark: a few
    hundred of a batch's 8 x 32 x 32 pixels at the CPU demo's size. Handing the loss this object
    instead of the dense map skips the convolutions everywhere else, with the same loss values
    and gradients (in float32, see :meth:`rows`). :meth:`rows` is the only read; :meth:`dense`
    gives the full map.

    Args:
        feat (Tensor | NeighbourhoodCache): (B, C, H, W) input of the branch, or a cache of its
            patches shared with other branches on the same input.
        branch (nn.Sequential): The branch, see :func:`is_conv3x3_relu_conv1x1`.
    """

    def __init__(self, feat: Union[Tensor, NeighbourhoodCache], branch: nn.Sequential) -> None:
        if not is_conv3x3_relu_conv1x1(branch):
            raise TypeError(f'BranchAtPixels needs a Sequential(Conv2d 3x3, ReLU, Conv2d 1x1) '
                            f'branch, got {branch}')
        self.cache = feat if isinstance(feat, NeighbourhoodCache) else NeighbourhoodCache(feat)
        self.feat = self.cache.feat
        self.branch = branch

    @property
    def shape(self) -> Tuple[int, int, int, int]:
        """(B, O, H, W) of the dense map."""
        batch_size, _, height, width = self.feat.shape
        return batch_size, self.branch[-1].out_channels, height, width

    def rows(self, batch_ids: Tensor, pixel_index: Tensor) -> Tensor:
        """(M, O) float32 branch output at (image, ``y * W + x``) pairs.

        Computed in float32 even under autocast: the rows feed L1 losses on sub-pixel
        quantities, and bfloat16 would round a width of 16-32 feature pixels to steps of 0.125
        before the loss sees it (the float32 dense map at inference has no such steps). At a
        few hundred rows the float32 matrix products cost little.
        """
        patches = self.cache.patches(batch_ids, pixel_index)
        with torch.autocast(device_type=patches.device.type, enabled=False):
            return conv3x3_relu_conv1x1_on_patches(patches, self.branch[0], self.branch[2])

    def dense(self) -> Tensor:
        """(B, O, H, W) branch output everywhere."""
        return self.branch(self.feat)
