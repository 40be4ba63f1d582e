#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Decode every image of a dataset once and list the files and items that cannot be used.

    python tools/analysis_tools/check_dataset.py CONFIG [--split train] [--out bad_images.txt]
        [--workers 8] [--cfg-options ...]
    python tools/analysis_tools/check_dataset.py --images DIR [--out bad_images.txt]

Images are read as training reads them (``mmengine.fileio.get`` + ``mmcv.imfrombytes``), with a
progress bar. In config mode the annotations are checked by the dataset itself, which keeps going
past bad items (``skip_invalid=True``, see ``dataset_image_paths``). Every missing or unreadable
image and every invalid annotation item or file (one ``path<TAB>reason`` line each) is printed and
written to ``--out``; the check always finishes, and the exit status is 1 when anything is bad.
Training skips bad images anyway (``LoadImageFromFileOrSkip``), but a list made once saves a run
from stopping at ``max_bad_share``.
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


def dataset_image_paths(config: str, split: str, cfg_options: Optional[dict] = None
                        ) -> Tuple[List[str], List[Tuple[str, str]], int]:
    """Every image of a config's ``split`` dataset and every problem its annotations have.

    A ``KeypointCocoDataset`` (``DeepFashion2Dataset``, ``FLDDataset``, ...) is read with
    ``skip_invalid=True`` (a ``DeepFashion2Dataset`` also with ``check_images=False``) and no
    ``filter_cfg`` (pipeline not run), so that one bad file or item does not end the check and
    every image, also a missing one, is decoded afterwards. A dataset that cannot be read at all
    (e.g. a truncated annotation file) gives one problem and no images.

    Returns:
        tuple: Image paths, ``(file, reason)`` of each invalid annotation item or image record,
        and the number of images those problems dropped (missing from the paths).
    """
    import deepmark_mm  # noqa: F401  (registers the dataset)
    from deepmark_mm.datasets import DeepFashion2Dataset, KeypointCocoDataset
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset_cfg = cfg[SPLIT_DATALOADERS[split]].dataset
    dataset_cfg.update(pipeline=[], serialize_data=False, filter_cfg=None)
    dataset_type = DATASETS.get(dataset_cfg.type) if isinstance(dataset_cfg.type, str) \
        else dataset_cfg.type
    if isinstance(dataset_type, type) and issubclass(dataset_type, KeypointCocoDataset):
        dataset_cfg.update(skip_invalid=True)
    if isinstance(dataset_type, type) and issubclass(dataset_type, DeepFashion2Dataset):
        dataset_cfg.update(check_images=False)
    try:
        dataset = DATASETS.build(dataset_cfg)
    except (OSError, ValueError) as error:  # an unreadable annotation file, or another dataset
        return [], [_file_and_reason(str(error), dataset_cfg.get('ann_file', config))], 0
    invalid = getattr(dataset, 'invalid', None)
    problems = [_file_and_reason(problem, dataset.ann_file) for problem in invalid.problems] \
        if invalid else []
    paths = [dataset.get_data_info(index)['img_path'] for index in range(len(dataset))]
    return paths, problems, invalid.skipped_images if invalid else 0


def _file_and_reason(message: str, default_file: str) -> Tuple[str, str]:
    """``'file.json: image 1 ...: problem'`` -> ``('file.json', 'image 1 ...: problem')``."""
    head, separator, rest = message.partition(': ')
    return (head, rest) if separator and osp.splitext(head)[1] else (default_file, message)


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
    if args.images:
        is_folder, dropped = osp.isdir(args.images), 0
        paths = folder_image_paths(args.images) if is_folder else []
        problems = [] if is_folder else [(args.images, 'not a folder')]
    else:
        paths, problems, dropped = dataset_image_paths(args.config, args.split, args.cfg_options)
    bad_images = check_images(paths, args.workers)
    bad = bad_images + problems
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    lines = [f'{path}\t{problem}\n' for path, problem in bad]
    with open(args.out, 'w') as file:
        file.writelines(lines)
    print(''.join(lines), end='')
    print(f'\n{len(paths) + dropped} images: {len(paths) - len(bad_images)} decoded, '
          f'{len(bad_images) + dropped} missing, unreadable or unusable; '
          f'{len(problems) - dropped} other problems (invalid annotations, unreadable files); '
          f'list written to {args.out}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
