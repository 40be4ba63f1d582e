# Copyright (c) deepmark_mm contributors. All rights reserved.
"""prepare_cpu_distributed: gloo + device_ids=None on a CPU launch, nothing anywhere else."""
import socket

import pytest
import torch.distributed as torch_dist
from mmengine.config import Config

from deepmark_mm.utils import prepare_cpu_distributed
from deepmark_mm.utils.cpu_distributed import cpu_model_wrapper_cfg


def test_untouched_without_launcher_or_on_an_accelerator():
    for launcher, device in (('none', 'cpu'), ('pytorch', 'cuda'), ('slurm', 'cuda')):
        cfg = Config(dict(launcher=launcher, env_cfg=dict(dist_cfg=dict(backend='nccl'))))
        before = cfg.to_dict()
        assert prepare_cpu_distributed(cfg, device=device) is False
        assert cfg.to_dict() == before
    assert not torch_dist.is_initialized()


def test_clear_errors_on_cpu(monkeypatch):
    with pytest.raises(RuntimeError, match='--launcher slurm needs CUDA'):
        prepare_cpu_distributed(Config(dict(launcher='slurm')), device='cpu')
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match='are not set'):
        prepare_cpu_distributed(Config(dict(launcher='pytorch')), device='cpu')


def test_wrapper_keeps_the_runner_defaults_with_device_ids_none():
    wrapper = cpu_model_wrapper_cfg(Config(dict(find_unused_parameters=True)))
    assert wrapper.to_dict() == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                     find_unused_parameters=True, device_ids=None)
    custom = cpu_model_wrapper_cfg(Config(dict(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', broadcast_buffers=True, device_ids=[0]))))
    assert custom.to_dict() == dict(type='MMDistributedDataParallel', broadcast_buffers=True,
                                    device_ids=None)


def test_one_process_gloo_group(monkeypatch):
    """A 1-process pytorch launch on CPU starts a gloo group (timeout from dist_cfg, seconds)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    for name, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(name, value)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    try:
        assert prepare_cpu_distributed(cfg, device='cpu') is True
        assert torch_dist.get_backend() == 'gloo' and torch_dist.get_world_size() == 1
        assert cfg.model_wrapper_cfg.device_ids is None
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
