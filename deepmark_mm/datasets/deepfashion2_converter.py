# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 layouts on disk: per-image (``image/`` + ``annos/``) <-> official COCO json.

:func:`per_image_to_coco` writes what the official ``deepfashion2_to_coco.py`` does, except that
files and items go in numeric order (not JSON key order) and sizes come from the image headers.
"""
import json
import os
import os.path as osp
from functools import partial
from multiprocessing import get_context
from typing import Callable, Dict, List, NoReturn, Optional, Tuple, Union

from .deepfashion2_format import (DeepFashion2FormatError, check_fields,
                                  coco_annotation_to_raw_item, coco_categories, coco_image_record,
                                  raw_item_to_coco_annotation, sorted_item_keys)

IMAGE_DIR = 'image'
ANNO_DIR = 'annos'
IMAGE_SUFFIX = '.jpg'

#: (image record or None, COCO annotations without ids, problems found when skipping)
PerImageSample = Tuple[Optional[Dict], List[Dict], List[str]]
#: ``on_invalid(error, whole_image)``: raises the error or records it (the record is dropped).
OnInvalid = Callable[[DeepFashion2FormatError, bool], None]


def load_json_file(path: str, object_hook: Optional[Callable[[dict], object]] = None) -> object:
    """``json.load`` with ``object_hook``; a missing, unreadable or corrupt file raises
    :class:`DeepFashion2FormatError` naming it."""
    try:
        with open(path, 'r', encoding='utf-8') as file:
            return json.load(file, object_hook=object_hook)
    except FileNotFoundError:
        raise DeepFashion2FormatError(f'{path}: annotation file not found') from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DeepFashion2FormatError(
            f'{path}: unreadable or corrupt annotation file ({error})') from None


def read_image_size(path: str, where: str) -> Tuple[int, int]:
    """(width, height) from the image header; a missing or unreadable image raises
    :class:`DeepFashion2FormatError` starting with ``where``."""
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
    """``annos/*.json`` sorted by numeric stem (:class:`DeepFashion2FormatError` if missing)."""
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
    """(image record | None if unusable, COCO annotations with ``id`` 0, problems) of one
    ``annos/NNNNNN.json`` and ``image_dir/NNNNNN<image_suffix>``; ``skip_invalid`` records bad
    items / files in the problems instead of raising."""
    problems: List[str] = []
    try:
        image_id = image_id_from_stem(anno_path)
        stem = osp.splitext(osp.basename(anno_path))[0]
        anno = load_json_file(anno_path)
        check_fields(anno, (), anno_path, 'top level')
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
    """:func:`read_per_image_sample` of every ``annos/`` file in numeric order, annotations
    numbered 1, 2, ...; ``workers`` > 0 reads in that many processes, ``progress`` shows tqdm,
    the prefixes replace ``src_dir/image`` and ``src_dir/annos``."""
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


def _raise(error: DeepFashion2FormatError, whole_image: bool = False) -> NoReturn:
    raise error


def _with_progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, unit='img', desc='DeepFashion2')


def per_image_to_coco(src_dir: str,
                      workers: int = 0,
                      skip_invalid: bool = False,
                      progress: bool = False) -> Tuple[Dict, List[str]]:
    """A per-image split folder (``image/``, ``annos/``) as the official COCO dict, with the
    problems skipped (``skip_invalid``; see :func:`read_per_image_layout` for the rest)."""
    samples = read_per_image_layout(src_dir, workers, skip_invalid, progress)
    coco = dict(info={}, licenses=[], images=[], annotations=[], categories=coco_categories())
    problems: List[str] = []
    for image, annotations, sample_problems in samples:
        problems.extend(sample_problems)
        if image is not None:
            coco['images'].append(image)
            coco['annotations'].extend(annotations)
    return coco, problems


def coco_layout_samples(coco: object, source: str, on_invalid: OnInvalid,
                        image_folder: Optional[str] = None) -> List[dict]:
    """``raw_img_info``, ``raw_ann_info`` (not validated yet) and ``source_file`` per usable
    image of a loaded COCO json (``source``), in file order; ``on_invalid`` gets the error of each
    unusable image / annotation record; ``image_folder``: check the image files exist."""
    if not isinstance(coco, dict) or not isinstance(coco.get('images'), list) or \
            not isinstance(coco.get('annotations'), list):
        raise DeepFashion2FormatError(
            f'{source}: not a COCO annotation file (needs "images" and "annotations" lists)')
    by_image: Dict[int, List[dict]] = {}
    raw_infos = []
    for image in coco['images']:
        where = f'{source}: image {image.get("id")} ({image.get("file_name")})' \
            if isinstance(image, dict) else f'{source}: image record {image!r}'
        try:
            _check_coco_image(image, where, image_folder)
        except DeepFashion2FormatError as error:
            on_invalid(error, True)
            continue
        by_image[image['id']] = []
        raw_infos.append(
            dict(raw_img_info=image, raw_ann_info=by_image[image['id']], source_file=source))
    known_ids = {image.get('id') for image in coco['images'] if isinstance(image, dict)}
    for number, annotation in enumerate(coco['annotations']):
        if not isinstance(annotation, dict):
            on_invalid(DeepFashion2FormatError(
                f'{source}: annotations[{number}] is a {type(annotation).__name__}, expected an '
                'object'), False)
        elif annotation.get('image_id') not in known_ids:
            on_invalid(DeepFashion2FormatError(
                f'{source}: annotation {annotation.get("id")} refers to unknown image '
                f'{annotation.get("image_id")}'), False)
        elif annotation['image_id'] in by_image:
            by_image[annotation['image_id']].append(annotation)
    return raw_infos


def _check_coco_image(image: object, where: str, image_folder: Optional[str]) -> None:
    check_fields(image, ('id', 'file_name', 'width', 'height'), where, 'record')
    if not (isinstance(image['width'], int) and isinstance(image['height'], int)
            and image['width'] > 0 and image['height'] > 0):
        raise DeepFashion2FormatError(
            f'{where}: width/height {image["width"]}x{image["height"]} are not positive integers')
    path = osp.join(image_folder or '', image['file_name'])
    if image_folder is not None and not osp.isfile(path):
        raise DeepFashion2FormatError(f'{where}: image file not found: {path}')


def coco_to_per_image(coco: Union[str, Dict],
                      out_dir: str,
                      image_dir: Optional[str] = None) -> int:
    """Write a COCO split (json path or dict) as ``out_dir/annos/NNNNNN.json`` (items in
    annotation-id order; the first bad record raises); with ``image_dir``, ``out_dir/image/``
    gets a symbolic link per image. Returns the number of files written."""
    where = coco if isinstance(coco, str) else 'coco'
    if isinstance(coco, str):
        coco = load_json_file(coco)
    samples = coco_layout_samples(coco, where, _raise)
    anno_dir = osp.join(out_dir, ANNO_DIR)
    os.makedirs(anno_dir, exist_ok=True)
    if image_dir is not None:
        os.makedirs(osp.join(out_dir, IMAGE_DIR), exist_ok=True)
    for sample in samples:
        image = sample['raw_img_info']
        stem = osp.splitext(image['file_name'])[0]
        annotations = sorted(sample['raw_ann_info'], key=lambda annotation: annotation['id'])
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
    return len(samples)
