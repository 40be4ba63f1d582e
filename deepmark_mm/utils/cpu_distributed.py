# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Let MMEngine's PyTorch-DDP path run on a machine without CUDA (gloo, CPU model).

MMEngine 0.10 lacks this: ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` whatever the
device, and ``Runner.wrap_model`` gives ``MMDistributedDataParallel`` ``device_ids=[LOCAL_RANK]``,
which a CPU module rejects. Everything else (process-group use, DefaultSampler sharding, the
gradient all-reduce of ``MMDistributedDataParallel``, ``collect_results`` in the metrics,
rank-0-only checkpoints and logs) is MMEngine's own and is left to it: this module only starts
the gloo process group before the Runner (``Runner.setup_env`` skips ``init_dist`` when a group
exists) and sets ``device_ids=None`` in ``model_wrapper_cfg``.
"""
import datetime
import os
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.device import get_device
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

#: Environment variables a ``torchrun`` / ``torch.distributed.launch`` worker receives.
LAUNCH_VARIABLES = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def prepare_cpu_distributed(cfg: Config, device: Optional[str] = None) -> bool:
    """Start the gloo process group and give a CPU model ``device_ids=None``, on a CPU machine.

    Call it on the merged config before ``Runner.from_cfg(cfg)``. Does nothing (and returns
    ``False``) when ``cfg.launcher`` is ``'none'`` or an accelerator is present: there MMEngine's
    own ``init_dist`` (NCCL, one device per rank) runs unchanged.

    Args:
        cfg (Config): The training / test config; ``cfg.launcher`` is the ``--launcher`` value.
            ``env_cfg.dist_cfg`` is honoured except its ``backend`` (NCCL needs GPUs: gloo is
            used); its ``timeout`` is in seconds, as for MMEngine.
        device (str, optional): The device MMEngine will use; defaults to
            ``mmengine.device.get_device()``.

    Returns:
        bool: Whether the CPU distributed set-up was applied.

    Raises:
        RuntimeError: A launcher other than ``pytorch`` on a CPU machine (MMEngine's slurm and mpi
            paths also require CUDA), or a ``pytorch`` launch without the ``torchrun`` variables.
    """
    launcher = cfg.get('launcher', 'none')
    device = get_device() if device is None else device
    if launcher == 'none' or device != 'cpu':
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA in MMEngine; on a machine without GPUs start the '
            'processes with `torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch`')
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch: {missing} are not set; start the processes with '
                           '`torchrun --nproc_per_node N ... --launcher pytorch`')
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo', **_process_group_kwargs(cfg))
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    return True


def _process_group_kwargs(cfg: Config) -> dict:
    """``env_cfg.dist_cfg`` as ``init_process_group`` arguments, without backend choices."""
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    for key in ('backend', 'init_backend'):
        dist_cfg.pop(key, None)
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    return dist_cfg


def cpu_model_wrapper_cfg(cfg: Config) -> ConfigDict:
    """The config's ``model_wrapper_cfg`` (MMEngine's default when unset) with ``device_ids=None``.

    Mirrors ``Runner.wrap_model``'s default wrapper (``MMDistributedDataParallel`` with
    ``broadcast_buffers=False`` and the config's ``find_unused_parameters``).

    Args:
        cfg (Config): The config.

    Returns:
        ConfigDict: The wrapper config; ``device_ids=None`` when its type is a
        ``DistributedDataParallel`` (for which the Runner would pass ``[LOCAL_RANK]``).
    """
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = ConfigDict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        wrapper = ConfigDict(wrapper)
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    wrapper_class = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) \
        else wrapper_type
    if isinstance(wrapper_class, type) and issubclass(wrapper_class, DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper
