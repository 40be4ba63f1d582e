# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The paper's schedule, epoch by epoch: 3e-4 (epochs 1-50), 3e-5 (51-53), 1e-5 (54-63)."""
import copy
import tempfile
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


def demo_lrs(max_iters=None, param_scheduler=None):
    """The demo config's schedulers as MMEngine's runner builds them, and the LR at each iteration
    (``max_iters`` overriding ``train_cfg.max_iters`` as ``--cfg-options`` does)."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, *args, **kwargs):
            raise NotImplementedError

    cfg = Config.fromfile(str(CONFIG_ROOT / 'deepmark' /
                              'deepmark_dla46c_1xb8-4000it_synthetic-128.py'))
    if max_iters:
        cfg.merge_from_dict({'train_cfg.max_iters': max_iters})
    with tempfile.TemporaryDirectory() as work_dir:
        runner = Runner(model=Tiny(), work_dir=work_dir, train_cfg=cfg.train_cfg,
                        train_dataloader=torch.utils.data.DataLoader([0]),
                        optim_wrapper=dict(optimizer=dict(type='Adam', lr=3e-3)),
                        param_scheduler=param_scheduler or cfg.param_scheduler,
                        default_scope='mmdet')
        runner._train_loop = runner.build_train_loop(runner._train_loop)
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        schedulers = runner.build_param_scheduler(runner.param_schedulers)
        lrs = []
        for _ in range(runner.max_iters):
            lrs.append(runner.optim_wrapper.param_groups[0]['lr'])
            for scheduler in schedulers:
                scheduler.step()
    return schedulers, lrs


def test_demo_schedule_follows_max_iters():
    """4000 iterations: the committed schedule (warm-up to 3e-3 over 100 iterations, cosine to 3e-5
    by 4000), LR for LR; a run shortened with train_cfg.max_iters decays by its own end."""
    schedulers, lrs = demo_lrs()
    assert [s.end for s in schedulers] == [100, 4000]
    _, committed = demo_lrs(param_scheduler=[
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=4000, eta_min=3e-5)])
    assert lrs == committed  # bit-identical
    schedulers, short = demo_lrs(max_iters=1000)
    assert [s.end for s in schedulers] == [100, 1000]
    assert short[:101] == lrs[:101]
    assert short[-1] == pytest.approx(3e-5, rel=1e-3)
    schedulers, smoke = demo_lrs(max_iters=2)  # shorter than the warm-up: runs, no error
    assert [s.end for s in schedulers] == [100, 2] and smoke == lrs[:2]
