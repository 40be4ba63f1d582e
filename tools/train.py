# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Train a DeepMark model with MMEngine's runner (``mim train deepmark_mm CONFIG`` runs this).

Examples:
    python tools/train.py configs/deepmark_dla34_512.py
    python tools/train.py CONFIG --resume                 # continue from work_dir's last checkpoint
    python -m torch.distributed.launch --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch
    mim train deepmark_mm CONFIG --gpus 8 --launcher pytorch
"""
import argparse
import os
import os.path as osp

import deepmark_mm  # noqa: F401  (first: registers components; lets mmcv-lite import mmcv.ops)
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS

from deepmark_mm.apis.config_resolution import resolve_config_path
from deepmark_mm.engine import DeepMarkRunner
from deepmark_mm.utils import prepare_cpu_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a DeepMark model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='mixed precision (fp16) training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by (total batch size / auto_scale_lr.base_batch_size)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a value, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='allow full (code-executing) unpickling of the load_from/resume checkpoint '
        'when weights-only loading fails; only for files you trust')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_dataloader.batch_size=4 '
        'data_root=data/deepfashion2/; load_from=CKPT load_partial=True fine-tunes from a '
        'checkpoint of another model (loads the tensors that fit)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher (multi-GPU/multi-node: PyTorch DDP through MMEngine)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    cfg = Config.fromfile(resolve_config_path(args.config))  # also a config id (mim)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError(f'{args.config} has no `auto_scale_lr.base_batch_size`; '
                               'cannot use --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main() -> None:
    args = parse_args()
    cfg = build_config(args)
    if args.trust_checkpoint:
        os.environ['DEEPMARK_TRUST_CHECKPOINTS'] = '1'
    prepare_cpu_distributed(cfg)  # gloo + CPU DDP where MMEngine's init_dist needs CUDA
    # DeepMarkRunner: the checkpoint must fit the model unless load_partial=True
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else DeepMarkRunner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
