# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Real-data sanity check: a correct pipeline memorises a handful of real DeepFashion2 images.

Trains a DeepMark model on a small real set (by default the 32 DeepFashion2 images of
``../shared/deepfashion2-samples/kgdet_demo_dataset``), without augmentation, then evaluates on the
same images and prints train-set box and landmark mAP and the time it took: judged with CenterNet's
decoding, and for information also with the config's decoding extras (window votes,
landmark-weighted scores), if any.

    python tools/analysis_tools/overfit_check.py [--data DIR] [--ann-file FILE] [--iters 1500]
        [--input-size 256] [--config CONFIG] [--work-dir work_dirs/overfit_check]

Expected of a correct pipeline: box mAP > 0.9 and landmark mAP > 0.7.
"""
import argparse
import os.path as osp
import time
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / 'shared' / 'deepfashion2-samples' / 'kgdet_demo_dataset'
DEFAULT_CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='memorise a small real set, report train mAP')
    parser.add_argument('--data', default=str(DEFAULT_DATA), help='dataset root')
    parser.add_argument('--ann-file', default='demo_dataset-32.json',
                        help='COCO-layout annotation file, relative to --data')
    parser.add_argument('--img-prefix', default='image/', help='image folder under --data')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG), help='model/runtime config')
    parser.add_argument('--iters', type=int, default=1500, help='training iterations')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--input-size', type=int, default=256)
    parser.add_argument('--work-dir', default='work_dirs/overfit_check')
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    """The base config, retargeted to the small real set with a fixed, augmentation-free warp."""
    ann_file = osp.join(args.data, args.ann_file)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{ann_file} not found; pass --data/--ann-file')
    cfg = Config.fromfile(args.config)
    pack = dict(type='PackDeepMarkInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                           'homography_matrix', 'flip', 'flip_direction', 'instances'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadDeepFashion2Annotations'),
                dict(type='CenterAffine', input_size=args.input_size), pack]
    dataset = dict(type='DeepFashion2Dataset', data_root=args.data, ann_file=args.ann_file,
                   data_prefix=dict(img=args.img_prefix), pipeline=pipeline)
    loader = dict(num_workers=0, persistent_workers=False, dataset=dataset)
    cfg.train_dataloader = dict(loader, batch_size=args.batch_size,
                                sampler=dict(type='InfiniteSampler', shuffle=True))
    cfg.val_dataloader = dict(loader, batch_size=8, dataset=dict(dataset, test_mode=True),
                              sampler=dict(type='DefaultSampler', shuffle=False))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator = dict(type='DeepFashion2Metric', ann_file=ann_file)
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=args.iters, val_interval=args.iters)
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='Adam', lr=args.lr, weight_decay=0., fused=True))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=args.iters,
             milestones=[int(args.iters * 0.8)], gamma=0.1)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=args.iters,
                                        by_epoch=False, save_best=None, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=0)
    return cfg


#: ``DeepMarkHead`` test_cfg keys that go beyond CenterNet's decoding; 0 turns each off.
DECODING_EXTRAS = ('vote_radius', 'kpt_vote_radius', 'keypoint_score_weight')


def main() -> None:
    args = parse_args()
    cfg = build_config(args)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    minutes = (time.time() - start) / 60
    # Memorisation is judged on CenterNet's own decoding (each peak reads its own pixel, scores
    # are the centre heatmap's). The window votes average in neighbouring pixels' readings, which
    # helps a model that generalises and costs one that has memorised its pixels, so the config's
    # extras are reported but not judged.
    test_cfg = runner.model.bbox_head.test_cfg
    decodes = {'CenterNet decoding': {key: 0 for key in DECODING_EXTRAS}}
    if any(test_cfg.get(key, 0) for key in DECODING_EXTRAS):
        decodes['the config decoding'] = {key: test_cfg.get(key, 0) for key in DECODING_EXTRAS}
    results = {}
    for name, settings in decodes.items():
        test_cfg.update(settings)
        results[name] = runner.test()
    print(f'\noverfit check: {args.iters} iterations, batch {args.batch_size}, '
          f'input {args.input_size}, {minutes:.1f} min of training')
    for name, metrics in results.items():
        judged = name == 'CenterNet decoding'
        print(f'  decoding with {name}{"" if judged else " (not judged)"}:')
        for key, bar in (('bbox_mAP', 0.9), ('kpt_mAP', 0.7), ('kpt_vis_mAP', None)):
            value = metrics[f'deepfashion2/{key}']
            verdict = '' if bar is None or not judged else (
                '  ok' if value > bar else f'  BELOW {bar}')
            print(f'    train-set {key:12s} {value:.4f}{verdict}')


if __name__ == '__main__':
    main()
