#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Decode every image of a dataset once and list the files that cannot be read.

    python tools/analysis_tools/check_dataset.py CONFIG [--split train] [--out bad_images.txt]
        [--workers 8] [--cfg-options ...]
    python tools/analysis_tools/check_dataset.py --images DIR [--out bad_images.txt]

Images are read as training reads them (``mmengine.fileio.get`` + ``mmcv.imfrombytes``), with a
progress bar. The bad files (one ``path<TAB>reason`` line each) go to ``--out``; the exit status
is 1 when there is any. Training skips such files anyway (``LoadImageFromFileOrSkip``), but a
list made once saves a run from stopping at ``max_bad_share``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

SPLIT_DATALOADERS = dict(train='train_dataloader', val='val_dataloader', test='test_dataloader')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def decode_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be decoded, or None when it can.

    Args:
        path (str): Image file (or backend URI).

    Returns:
        str | None: The reason, e.g. ``'not decodable'``.
    """
    import mmcv
    from mmengine import fileio
    try:
        image = mmcv.imfrombytes(fileio.get(path), flag='color')
    except Exception as error:  # missing file, backend error, decoder error
        return f'{type(error).__name__}: {error}'
    if image is None or image.size == 0:
        return 'not decodable'
    return None


def _check_one(path: str) -> Tuple[str, Optional[str]]:
    return path, decode_problem(path)


def check_images(paths: Sequence[str], workers: int = 0) -> List[Tuple[str, str]]:
    """Decode each path once (progress bar); ``(path, reason)`` of the bad ones, in order.

    Args:
        paths (Sequence[str]): Image files.
        workers (int): Processes; 0 decodes in this one.

    Returns:
        list[tuple[str, str]]: The unreadable files and why.
    """
    from mmengine.utils import track_iter_progress, track_parallel_progress
    if workers > 0:
        results = track_parallel_progress(_check_one, list(paths), workers, chunksize=64)
    else:
        results = [_check_one(path) for path in track_iter_progress(list(paths))]
    return [(path, problem) for path, problem in results if problem is not None]


def dataset_image_paths(config: str, split: str, cfg_options: Optional[dict] = None) -> List[str]:
    """The ``img_path`` of every sample of a config's ``split`` dataset (pipeline not run)."""
    import deepmark_mm  # noqa: F401  (registers the dataset)
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset_cfg = cfg[SPLIT_DATALOADERS[split]].dataset
    dataset_cfg.pipeline = []
    dataset_cfg['serialize_data'] = False
    dataset = DATASETS.build(dataset_cfg)
    return [dataset.get_data_info(index)['img_path'] for index in range(len(dataset))]


def folder_image_paths(folder: str) -> List[str]:
    """Image files of ``folder`` (by extension), sorted."""
    return sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='decode every image once, list the bad ones')
    parser.add_argument('config', nargs='?', help='config whose dataset is checked')
    parser.add_argument('--split', choices=sorted(SPLIT_DATALOADERS), default='train')
    parser.add_argument('--images', help='check this image folder instead of a config dataset')
    parser.add_argument('--out', default='bad_images.txt', help='list of bad files')
    parser.add_argument('--workers', type=int, default=0, help='decoding processes')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    args = parser.parse_args(argv)
    if bool(args.config) == bool(args.images):
        parser.error('give either CONFIG or --images DIR')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    paths = folder_image_paths(args.images) if args.images else \
        dataset_image_paths(args.config, args.split, args.cfg_options)
    bad = check_images(paths, args.workers)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as file:
        file.writelines(f'{path}\t{problem}\n' for path, problem in bad)
    print(f'\n{len(paths)} images decoded, {len(bad)} unreadable; list written to {args.out}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
