# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Let MMEngine's PyTorch-DDP path run on a machine without CUDA (gloo, CPU model), which
MMEngine's ``init_dist`` and ``Runner.wrap_model`` lack (docs/distributed_cpu.md)."""
import datetime
import os
from typing import Optional

import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.device import get_device
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel


def prepare_cpu_distributed(cfg: Config, device: Optional[str] = None) -> bool:
    """On a CPU machine, start the gloo group (``env_cfg.dist_cfg`` but its ``backend``;
    ``timeout`` in seconds) and give the model ``device_ids=None``; call it before
    ``Runner.from_cfg(cfg)``.

    Returns whether it applied (not for ``launcher='none'`` or an accelerator ``device``,
    ``get_device()`` by default); raises ``RuntimeError`` for a launcher other than ``pytorch``
    or a launch without torchrun's variables.
    """
    launcher = cfg.get('launcher', 'none')
    device = get_device() if device is None else device
    if launcher == 'none' or device != 'cpu':
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA in MMEngine; on a machine without GPUs start the '
            'processes with `torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch`')
    missing = [name for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if name not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch: {missing} are not set; start the processes with '
                           '`torchrun --nproc_per_node N ... --launcher pytorch`')
    if not torch_dist.is_initialized():
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
        for key in ('backend', 'init_backend'):
            dist_cfg.pop(key, None)
        if dist_cfg.get('timeout') is not None:
            dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(backend='gloo', **dist_cfg)
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    return True


def cpu_model_wrapper_cfg(cfg: Config) -> ConfigDict:
    """The config's ``model_wrapper_cfg`` (``Runner.wrap_model``'s default when unset) with
    ``device_ids=None`` when its type is a ``DistributedDataParallel``."""
    wrapper = cfg.get('model_wrapper_cfg')
    wrapper = ConfigDict(wrapper if wrapper is not None else dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False)))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    wrapper_class = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) \
        else wrapper_type
    if isinstance(wrapper_class, type) and issubclass(wrapper_class, DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper
