# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The paper's schedule, epoch by epoch: 3e-4 (epochs 1-50), 3e-5 (51-53), 1e-5 (54-63)."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'


def lr_per_epoch(cfg: Config, num_epochs: int, iters_per_epoch: int = 1):
    """Learning rate at each epoch start, stepping schedulers as MMEngine's ParamSchedulerHook."""
    model = torch.nn.Linear(2, 2)
    optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    schedulers = [
        PARAM_SCHEDULERS.build(dict(copy.deepcopy(s), optimizer=optim_wrapper))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(num_epochs):
        lrs.append(optim_wrapper.param_groups[0]['lr'])
        for _ in range(iters_per_epoch):
            for scheduler in schedulers:
                if not scheduler.by_epoch:
                    scheduler.step()
        for scheduler in schedulers:
            if scheduler.by_epoch:
                scheduler.step()
    return lrs


@pytest.mark.parametrize('config', [
    'deepmark_dla34_512.py', 'deepmark_hg_512.py',
    'deepmark/deepmark_dla34_8xb5-63e_deepfashion2-256.py'
])
def test_paper_schedule_per_epoch(config):
    cfg = Config.fromfile(str(CONFIG_ROOT / config))
    assert cfg.train_cfg.max_epochs == 63
    lrs = lr_per_epoch(cfg, 63)
    expected = [3e-4] * 50 + [3e-5] * 3 + [1e-5] * 10
    assert lrs == pytest.approx(expected, rel=1e-9)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0


def test_synthetic_schedule_warms_up_then_steps():
    cfg = Config.fromfile(
        str(CONFIG_ROOT / 'deepmark' / 'deepmark_dla34_1xb8-12e_synthetic-128.py'))
    lrs = lr_per_epoch(cfg, cfg.train_cfg.max_epochs, iters_per_epoch=63)
    assert lrs[0] == pytest.approx(1e-5)  # start_factor 0.01 of 1e-3
    assert lrs[1:9] == pytest.approx([1e-3] * 8)  # warm-up (50 iterations) done in epoch 1
    assert lrs[9:] == pytest.approx([1e-4] * 3)
