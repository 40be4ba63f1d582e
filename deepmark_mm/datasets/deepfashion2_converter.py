# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 layouts on disk: per-image (``image/`` + ``annos/``) <-> official COCO json.

:func:`per_image_to_coco` produces what the official ``deepfashion2_to_coco.py`` produces (same
``info``/``licenses``/``images``/``categories`` records, annotations numbered 1, 2, ... in image
order). Two documented differences that do not change meaning: images are taken in numeric
file-stem order and each file's items in ``item1, item2, ...`` order (the official script follows
JSON key order), and image sizes are read from the image header.
"""
import json
import os
import os.path as osp
from functools import partial
from multiprocessing import get_context
from typing import Callable, Dict, List, Optional, Tuple, Union

from .deepfashion2_format import (DeepFashion2FormatError, coco_annotation_to_raw_item,
                                  coco_categories, coco_image_record, raw_item_to_coco_annotation,
                                  sorted_item_keys)

IMAGE_DIR = 'image'
ANNO_DIR = 'annos'
IMAGE_SUFFIX = '.jpg'

#: (image record or None, COCO annotations without ids, problems found when skipping)
PerImageSample = Tuple[Optional[Dict], List[Dict], List[str]]


def load_json_file(path: str, object_hook: Optional[Callable[[dict], object]] = None) -> object:
    """Read a JSON file (``json.load`` with ``object_hook``); unreadable or corrupt files raise
    :class:`DeepFashion2FormatError` naming the file."""
    try:
        with open(path, 'r', encoding='utf-8') as file:
            return json.load(file, object_hook=object_hook)
    except FileNotFoundError:
        raise DeepFashion2FormatError(f'{path}: annotation file not found') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DeepFashion2FormatError(
            f'{path}: unreadable or corrupt annotation file ({error})') from None


def read_image_size(path: str, where: str) -> Tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels.

    Raises:
        DeepFashion2FormatError: Missing or unreadable image (message starts with ``where``).
    """
    from PIL import Image, UnidentifiedImageError
    if not osp.isfile(path):
        raise DeepFashion2FormatError(f'{where}: image file not found: {path}')
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as error:
        raise DeepFashion2FormatError(f'{where}: unreadable image {path} ({error})') from None


def image_id_from_stem(path: str) -> int:
    """int(file stem) of ``NNNNNN.json`` / ``NNNNNN.jpg``."""
    stem = osp.splitext(osp.basename(path))[0]
    if not stem.isdigit():
        raise DeepFashion2FormatError(
            f'{path}: file name must be a number (DeepFashion2 names files NNNNNN.json)')
    return int(stem)


def list_annotation_files(anno_dir: str) -> List[str]:
    """``annos/*.json`` sorted by numeric stem.

    Raises:
        DeepFashion2FormatError: Missing folder.
    """
    if not osp.isdir(anno_dir):
        raise DeepFashion2FormatError(f'{anno_dir}: annotation folder not found')
    names = [name for name in os.listdir(anno_dir) if name.endswith('.json')]
    paths = [osp.join(anno_dir, name) for name in names]
    return sorted(paths, key=lambda path: (image_id_from_stem(path), path))


def read_per_image_sample(anno_path: str,
                          image_dir: str,
                          skip_invalid: bool = False,
                          image_suffix: str = IMAGE_SUFFIX,
                          own_slots_only: bool = False) -> PerImageSample:
    """Read one ``annos/NNNNNN.json`` and the size of ``image/NNNNNN.jpg``.

    Args:
        anno_path (str): Annotation file.
        image_dir (str): Folder of the images.
        skip_invalid (bool): Record bad items/files in the returned problems instead of raising.
        image_suffix (str): Image file suffix.
        own_slots_only (bool): Keypoints as the category's own triplets (see
            :func:`raw_item_to_coco_annotation`).

    Returns:
        tuple: (image record | None when the whole file is unusable, COCO annotations (``id`` 0,
        numbered later), problem messages).
    """
    problems: List[str] = []
    try:
        image_id = image_id_from_stem(anno_path)
        stem = osp.splitext(osp.basename(anno_path))[0]
        anno = load_json_file(anno_path)
        if not isinstance(anno, dict):
            raise DeepFashion2FormatError(
                f'{anno_path}: top level is a {type(anno).__name__}, expected an object')
        item_keys = sorted_item_keys(anno, anno_path)
        file_name = stem + image_suffix
        width, height = read_image_size(osp.join(image_dir, file_name), f'{anno_path}: image')
    except DeepFashion2FormatError as error:
        if not skip_invalid:
            raise
        return None, [], [str(error)]
    annotations = []
    for key in item_keys:
        try:
            annotations.append(raw_item_to_coco_annotation(
                anno[key], f'{anno_path}: {key}', image_id, 0, pair_id=anno.get('pair_id'),
                own_slots_only=own_slots_only))
        except DeepFashion2FormatError as error:
            if not skip_invalid:
                raise
            problems.append(str(error))
    return coco_image_record(image_id, file_name, width, height), annotations, problems


def read_per_image_layout(src_dir: str,
                          workers: int = 0,
                          skip_invalid: bool = False,
                          progress: bool = False,
                          image_prefix: Optional[str] = None,
                          anno_prefix: Optional[str] = None,
                          own_slots_only: bool = False) -> List[PerImageSample]:
    """Read every sample of a per-image layout, numbering annotations 1, 2, ... in order.

    Args:
        src_dir (str): Split folder holding ``image/`` and ``annos/``.
        workers (int): Worker processes (0: read in this process).
        skip_invalid (bool): Collect problems instead of raising.
        progress (bool): Show a tqdm progress bar.
        image_prefix (str, optional): Image folder (default ``src_dir/image``).
        anno_prefix (str, optional): Annotation folder (default ``src_dir/annos``).
        own_slots_only (bool): Keypoints as the category's own triplets (see
            :func:`raw_item_to_coco_annotation`).

    Returns:
        list[PerImageSample]: In numeric file order.
    """
    image_dir = image_prefix or osp.join(src_dir, IMAGE_DIR)
    anno_paths = list_annotation_files(anno_prefix or osp.join(src_dir, ANNO_DIR))
    read = partial(read_per_image_sample, image_dir=image_dir, skip_invalid=skip_invalid,
                   own_slots_only=own_slots_only)
    if workers > 0:
        with get_context('fork').Pool(workers) as pool:
            iterator = pool.imap(read, anno_paths, chunksize=64)
            samples = list(_with_progress(iterator, len(anno_paths), progress))
    else:
        samples = [read(path) for path in _with_progress(anno_paths, len(anno_paths), progress)]
    next_id = 1
    for _, annotations, _ in samples:
        for annotation in annotations:
            annotation['id'] = next_id
            next_id += 1
    return samples


def _with_progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, unit='img', desc='DeepFashion2')


def per_image_to_coco(src_dir: str,
                      workers: int = 0,
                      skip_invalid: bool = False,
                      progress: bool = False) -> Tuple[Dict, List[str]]:
    """Convert a per-image split folder to the official COCO layout.

    Args:
        src_dir (str): Split folder with ``image/`` and ``annos/``.
        workers (int): Worker processes.
        skip_invalid (bool): Skip bad items/files (their messages are returned) instead of raising.
        progress (bool): Show a progress bar.

    Returns:
        tuple[dict, list[str]]: The COCO dict and the problems skipped.
    """
    samples = read_per_image_layout(src_dir, workers, skip_invalid, progress)
    coco = dict(info={}, licenses=[], images=[], annotations=[], categories=coco_categories())
    problems: List[str] = []
    for image, annotations, sample_problems in samples:
        problems.extend(sample_problems)
        if image is not None:
            coco['images'].append(image)
            coco['annotations'].extend(annotations)
    return coco, problems


def coco_to_per_image(coco: Union[str, Dict],
                      out_dir: str,
                      image_dir: Optional[str] = None) -> int:
    """Write a COCO-layout split as per-image files (``out_dir/annos/NNNNNN.json``).

    Items are written as ``item1, item2, ...`` in annotation-id order. Fields COCO does not keep
    (``scale``, ``occlusion``, ``zoom_in``, ``viewpoint``, ``source``) are written only when the
    COCO records carry them.

    Args:
        coco (str | dict): COCO json path or loaded dict.
        out_dir (str): Output split folder.
        image_dir (str, optional): Where the images are; when given, ``out_dir/image/`` gets a
            symbolic link per image.

    Returns:
        int: Number of annotation files written.
    """
    where = coco if isinstance(coco, str) else 'coco'
    if isinstance(coco, str):
        coco = load_json_file(coco)
    anno_dir = osp.join(out_dir, ANNO_DIR)
    os.makedirs(anno_dir, exist_ok=True)
    by_image: Dict[int, List[Dict]] = {image['id']: [] for image in coco['images']}
    for annotation in coco['annotations']:
        if annotation.get('image_id') not in by_image:
            raise DeepFashion2FormatError(
                f'{where}: annotation {annotation.get("id")} refers to unknown image '
                f'{annotation.get("image_id")}')
        by_image[annotation['image_id']].append(annotation)
    if image_dir is not None:
        os.makedirs(osp.join(out_dir, IMAGE_DIR), exist_ok=True)
    for image in coco['images']:
        stem = osp.splitext(image['file_name'])[0]
        annotations = sorted(by_image[image['id']], key=lambda annotation: annotation['id'])
        anno: Dict = {}
        if 'source' in image:
            anno['source'] = image['source']
        if annotations:
            anno['pair_id'] = annotations[0].get('pair_id')
        for number, annotation in enumerate(annotations, start=1):
            anno[f'item{number}'] = coco_annotation_to_raw_item(
                annotation, f'{where}: annotation {annotation.get("id")}')
        with open(osp.join(anno_dir, stem + '.json'), 'w', encoding='utf-8') as file:
            json.dump(anno, file)
        if image_dir is not None:
            link = osp.join(out_dir, IMAGE_DIR, image['file_name'])
            if not osp.lexists(link):
                os.symlink(osp.abspath(osp.join(image_dir, image['file_name'])), link)
    return len(coco['images'])
