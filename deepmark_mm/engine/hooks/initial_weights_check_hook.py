# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Say at start-up where a training run's initial weights come from."""
import logging

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper


def _has_pretrained_init(module) -> bool:
    init_cfg = getattr(module, 'init_cfg', None)
    configs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(isinstance(cfg, dict) and cfg.get('type') == 'Pretrained' for cfg in configs)


@HOOKS.register_module()
class InitialWeightsCheckHook(Hook):
    """Before ``init_weights``: warn when a run starts from random weights.

    Without ``load_from``, ``resume``, a ``Pretrained`` ``init_cfg`` (model or backbone) or a
    backbone with ``pretrained=True``, one WARNING says so. With ``load_from``, a backbone's
    ``pretrained=True`` is switched off (its ImageNet weights would be overwritten).

    Example:
        >>> custom_hooks = [dict(type='InitialWeightsCheckHook')]
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        load_from = runner.cfg.get('load_from', None)
        if load_from and getattr(backbone, 'pretrained', False):
            backbone.pretrained = False
            print_log(
                f'InitialWeightsCheckHook: load_from={load_from} sets every weight it holds, '
                "so the backbone's ImageNet weights are not fetched",
                logger='current')
        if load_from or runner.cfg.get('resume', False) or getattr(backbone, 'pretrained', False) \
                or _has_pretrained_init(model) or _has_pretrained_init(backbone):
            return
        print_log(
            'InitialWeightsCheckHook: training starts from RANDOM weights (no load_from, no '
            'pretrained backbone). The paper starts from CenterNet\'s COCO model: convert it '
            'with tools/model_converters/centernet_to_deepmark.py and pass --cfg-options '
            'load_from=CKPT.',
            logger='current',
            level=logging.WARNING)
