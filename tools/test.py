# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Evaluate a DeepMark checkpoint (``mim test deepmark_mm CONFIG --checkpoint CKPT`` runs this).

Examples:
    python tools/test.py configs/deepmark_dla34_512.py CKPT
    python tools/test.py CONFIG CKPT --tta               # flip (+ multiscale) fusion
    python tools/test.py CONFIG CKPT --show-dir vis      # annotated images
    python tools/test.py CONFIG CKPT --cfg-options test_evaluator.format_only=True \
        test_evaluator.outfile_prefix=results/deepmark   # official result files
"""
import argparse
import logging
import os
import os.path as osp

import deepmark_mm  # noqa: F401  (first: registers components; lets mmcv-lite import mmcv.ops)
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS

from deepmark_mm.apis.config_resolution import resolve_config_path
from deepmark_mm.engine import DeepMarkRunner
from deepmark_mm.utils import prepare_cpu_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a DeepMark model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (offline evaluation)')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='save painted images under work_dir/<time>/SHOW_DIR')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation: the config\'s tta_model / tta_pipeline')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='allow full (code-executing) unpickling when weights-only loading fails')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data_root=data/deepfashion2/ '
                        '(load_partial=True: test a checkpoint that only partly fits)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_tta(cfg: Config) -> None:
    """Wrap the model for test-time augmentation and feed it the TTA pipeline.

    The config's ``tta_model`` / ``tta_pipeline`` when it has them, otherwise flip fusion over
    ``tta_scales`` (default ``[1.0]``; ``--cfg-options "tta_scales=[1.0,0.75]"`` adds the
    paper's 0.75 view), see ``deepmark_mm.models.test_time_augs.resolve_tta_config``.
    """
    from deepmark_mm.datasets.keypoint_metainfo import leaf_dataset_configs
    from deepmark_mm.models.test_time_augs import resolve_tta_config
    tta_model, tta_pipeline = resolve_tta_config(cfg)
    if cfg.model.get('type') == tta_model['type']:
        raise RuntimeError('this config already runs test-time augmentation: drop --tta')
    cfg.model = ConfigDict(**tta_model, module=cfg.model)
    for dataset_cfg in leaf_dataset_configs(cfg.test_dataloader.dataset):
        dataset_cfg.pipeline = tta_pipeline


def build_config(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    from mmdet.engine.hooks.utils import trigger_visualization_hook

    cfg = Config.fromfile(resolve_config_path(args.config))  # also a config id (mim)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        enable_tta(cfg)
    elif any(key in cfg for key in ('tta_model', 'tta_scales', 'tta_pipeline')):
        print_log(f'{args.config} configures test-time augmentation (tta_model / tta_scales); '
                  'it runs only with --tta: testing the plain detector', logger='current',
                  level=logging.WARNING)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl file, got {args.out}')
    return cfg


def main() -> None:
    args = parse_args()
    if args.trust_checkpoint:
        os.environ['DEEPMARK_TRUST_CHECKPOINTS'] = '1'
    cfg = build_config(args)
    prepare_cpu_distributed(cfg)  # gloo + CPU DDP where MMEngine's init_dist needs CUDA
    # DeepMarkRunner: the checkpoint must fit the model unless load_partial=True
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else DeepMarkRunner.from_cfg(cfg)
    if args.out is not None:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
