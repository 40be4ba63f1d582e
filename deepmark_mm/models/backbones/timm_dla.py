# Copyright (c) deepmark_mm contributors. All rights reserved.
"""timm's DLA trunk (DLA-34 by default) as an MMDetection backbone returning every level."""
import re
from typing import Sequence, Tuple

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

#: Prefixes stripped from the keys of a trunk-only checkpoint before loading it into the trunk:
#: DataParallel, CenterNet's ``base.`` and this module's own ``trunk.``.
TRUNK_KEY_PREFIXES = re.compile(r'^(module\.)?(base\.)?(trunk\.)?')


@MODELS.register_module()
class TimmDLA(BaseModule):
    """DLA trunk from timm (``features_only``), levels 0..5 at strides 1, 2, 4, 8, 16, 32.

    Building never downloads. Initial weights, applied by :meth:`init_weights` (which training
    calls; inference and tests that load a checkpoint do not):

    * ``init_cfg=dict(type='Pretrained', checkpoint=PATH[, prefix='backbone.'])``: a local
      ImageNet DLA checkpoint (timm's or the official ``dla34-ba72cf86.pth``; unused extra
      tensors such as ``fc.*`` are reported and ignored), or, with ``prefix``, the backbone of a
      detector checkpoint;
    * else ``pretrained=True``: timm's ImageNet weights (downloaded by timm on first use, then
      cached; the DeepFashion2 DLA-34 configs). Offline, a :class:`RuntimeError` names the ways
      out (a converted CenterNet checkpoint as ``load_from``, or ``pretrained=False``);
    * else timm's random initialisation.

    Args:
        arch (str): timm model name, e.g. ``'dla34'``.
        out_indices (Sequence[int]): Trunk levels to return. DLAUpNeck expects all six.
        pretrained (bool): Start from timm's ImageNet weights (see above). Defaults to False.
        frozen_stages (int): Freeze the stem and levels ``0..frozen_stages`` (their params get
            no gradient and their norms stay in eval mode); -1 freezes nothing.
        norm_eval (bool): Keep every BN layer in eval mode during training.
        init_cfg (dict, optional): ``None`` keeps timm's initialisation; see above for
            ``Pretrained``.

    Example:
        >>> import torch
        >>> backbone = TimmDLA('dla34')
        >>> [tuple(f.shape) for f in backbone(torch.rand(1, 3, 64, 64))][-1]
        (1, 512, 2, 2)
    """

    def __init__(self,
                 arch: str = 'dla34',
                 out_indices: Sequence[int] = (0, 1, 2, 3, 4, 5),
                 pretrained: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import timm
        if not arch.startswith('dla'):
            raise ValueError(f'TimmDLA wraps timm DLA trunks, got arch={arch!r}')
        self.trunk = timm.create_model(
            arch, pretrained=False, features_only=True, out_indices=tuple(out_indices))
        self.arch = arch
        self.pretrained = pretrained
        self.out_indices = tuple(out_indices)
        self.out_channels: Tuple[int, ...] = tuple(self.trunk.feature_info.channels())
        self.strides: Tuple[int, ...] = tuple(self.trunk.feature_info.reduction())
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._freeze_stages()

    def _frozen_module_names(self) -> Tuple[str, ...]:
        """Names of the trunk children covered by ``frozen_stages``."""
        if self.frozen_stages < 0:
            return ()
        return ('base_layer', ) + tuple(f'level{i}' for i in range(self.frozen_stages + 1))

    def _freeze_stages(self) -> None:
        """Stop gradients and BN updates in the frozen stages."""
        for name, module in self.trunk.named_children():
            if name in self._frozen_module_names():
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def init_weights(self) -> None:
        """Load a local ``Pretrained`` checkpoint, else timm's ImageNet weights when
        ``pretrained``, else keep timm's init."""
        init_cfg = self.init_cfg if isinstance(self.init_cfg, dict) else None
        if init_cfg is None or init_cfg.get('type') != 'Pretrained':
            if self.pretrained:
                self._load_timm_pretrained()
            else:
                super().init_weights()
            return
        checkpoint_path = init_cfg['checkpoint']
        checkpoint = CheckpointLoader.load_checkpoint(checkpoint_path, map_location='cpu')
        state_dict = checkpoint.get('state_dict', checkpoint)
        prefix = init_cfg.get('prefix')
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
            if not state_dict:
                raise KeyError(f'{checkpoint_path} has no key starting with {prefix!r}')
        state_dict = {TRUNK_KEY_PREFIXES.sub('', k): v for k, v in state_dict.items()}
        print_log(
            f'TimmDLA: loading {self.arch} trunk weights from {checkpoint_path}', logger='current')
        load_state_dict(self.trunk, state_dict, strict=False, logger='current')
        self._is_init = True

    def _load_timm_pretrained(self) -> None:
        """timm's ImageNet weights into the trunk (timm downloads and caches them)."""
        import timm
        try:
            source = timm.create_model(
                self.arch, pretrained=True, features_only=True, out_indices=self.out_indices)
        except Exception as error:  # offline: huggingface_hub / urllib / OSError flavours
            raise RuntimeError(
                f"TimmDLA: could not get timm's ImageNet weights for {self.arch} "
                f'({type(error).__name__}: {error}). Without network access, either start from '
                'a converted CenterNet checkpoint (python tools/model_converters/'
                'centernet_to_deepmark.py ctdet_coco_dla_2x.pth CKPT --arch dla34, then '
                '--cfg-options load_from=CKPT), or train from random weights with '
                '--cfg-options model.backbone.pretrained=False. timm caches the weights, so one '
                'run with network access is enough.') from error
        self.trunk.load_state_dict(source.state_dict())
        print_log(f"TimmDLA: {self.arch} trunk initialised from timm's ImageNet weights",
                  logger='current')
        self._is_init = True

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Run the trunk.

        Args:
            x (Tensor): (B, 3, H, W) images, H and W divisible by 32.

        Returns:
            tuple[Tensor]: One map per ``out_indices`` entry, level ``k`` of shape
            (B, out_channels[k], H / strides[k], W / strides[k]).
        """
        return tuple(self.trunk(x))

    def train(self, mode: bool = True) -> 'TimmDLA':
        """Switch mode, keeping frozen stages (and every BN if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
