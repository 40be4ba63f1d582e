# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 in either of its layouts: the official COCO json or per-image files
(``image/NNNNNN.jpg`` + ``annos/NNNNNN.json``); every reader checks its input and names the bad
file and item. Conversion between the layouts: ``tools/dataset_converters/deepfashion2_to_coco.py``.
"""
import json
import logging
import os
import os.path as osp
from functools import partial
from multiprocessing import get_context
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from .deepfashion2_format import (DeepFashion2FormatError, check_fields,
                                  coco_annotation_to_instance, coco_image_record,
                                  raw_item_to_coco_annotation, sorted_item_keys)
from .deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                    get_deepfashion2_metainfo)
from .keypoint_metainfo import check_keypoint_metainfo

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
                          own_slots_only: bool = False) -> PerImageSample:
    """(image record | None if unusable, COCO annotations with ``id`` 0, problems) of one
    ``annos/NNNNNN.json`` and ``image_dir/NNNNNN.jpg``; ``skip_invalid`` records bad
    items / files in the problems instead of raising."""
    problems: List[str] = []
    try:
        image_id = image_id_from_stem(anno_path)
        stem = osp.splitext(osp.basename(anno_path))[0]
        anno = load_json_file(anno_path)
        check_fields(anno, (), anno_path, 'top level')
        item_keys = sorted_item_keys(anno, anno_path)
        file_name = stem + IMAGE_SUFFIX
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


def _with_progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, unit='img', desc='DeepFashion2')


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


LAYOUTS = ('coco', 'per_image')


class SkipOrRaise:
    """``on_invalid`` callback: raise an invalid item's error, or (``skip_invalid``) record it in
    ``problems`` (``skipped_images`` counts the whole images among them)."""

    def __init__(self, skip_invalid: bool) -> None:
        self.skip_invalid = skip_invalid
        self.problems: List[str] = []
        self.skipped_images = 0

    def __call__(self, error: DeepFashion2FormatError, whole_image: bool = False) -> None:
        if not self.skip_invalid:
            raise DeepFashion2FormatError(f'{error} (set skip_invalid=True to skip such items)')
        self.problems.append(str(error))
        self.skipped_images += int(whole_image)

    def warn(self, owner: str) -> None:
        """One warning line counting what was skipped (nothing when nothing was)."""
        if self.problems:
            print_log(
                f'{owner}: skipped {len(self.problems) - self.skipped_images} invalid items and '
                f'{self.skipped_images} unusable images (skip_invalid=True); first: '
                f'{self.problems[0]}',
                logger='current',
                level=logging.WARNING)


def lean_annotation(record: dict) -> dict:
    """``json.load`` object hook: an annotation's (``image_id``) ``keypoints`` list becomes one
    float64 array and its ``segmentation`` goes, so that DeepFashion2's 882 boxed floats per
    garment never all exist at once (the values, checks and errors stay those of the list)."""
    if 'image_id' in record:
        record.pop('segmentation', None)
        if isinstance(record.get('keypoints'), list):
            try:
                record['keypoints'] = np.asarray(record['keypoints'], dtype=np.float64)
            except (TypeError, ValueError):
                pass
    return record


def valid_annotations(raw_data_info: dict, on_invalid: OnInvalid,
                      keypoint_slices: Sequence[Sequence[int]] = KEYPOINT_SLICES,
                      classes: Sequence[str] = CATEGORY_NAMES) -> List[Tuple[dict, dict]]:
    """``(annotation, instance)`` of each annotation of one ``raw_data_info`` that passes
    :func:`~.deepfashion2_format.coco_annotation_to_instance`; ``on_invalid`` gets the others'
    errors (naming file, image and annotation id)."""
    image = raw_data_info['raw_img_info']
    kept = []
    for annotation in raw_data_info['raw_ann_info']:
        where = f'{raw_data_info.get("source_file")}: image {image["id"]} ' \
                f'({image["file_name"]}) annotation {annotation.get("id")}'
        try:
            kept.append((annotation, coco_annotation_to_instance(annotation, where,
                                                                 keypoint_slices, classes)))
        except DeepFashion2FormatError as error:
            on_invalid(error, False)
    return kept


def read_coco_ground_truth(coco: object, source: str, skip_invalid: bool = False,
                           keypoint_slices: Sequence[Sequence[int]] = KEYPOINT_SLICES,
                           classes: Sequence[str] = CATEGORY_NAMES) -> Dict:
    """The metric's ground truth: a loaded COCO json cut to the ``images``, ``annotations`` and
    ``categories`` :class:`DeepFashion2Dataset` keeps, with its checks (image files unread)."""
    invalid = SkipOrRaise(skip_invalid)
    raw_infos = coco_layout_samples(coco, source, invalid)
    annotations = [annotation for raw_info in raw_infos
                   for annotation, _ in valid_annotations(raw_info, invalid, keypoint_slices,
                                                          classes)]
    invalid.warn(f'ground truth ({source})')
    return dict(images=[raw_info['raw_img_info'] for raw_info in raw_infos],
                annotations=annotations, categories=coco.get('categories', []))


@DATASETS.register_module()
class DeepFashion2Dataset(BaseDetDataset):
    """DeepFashion2 clothing detection + landmarks (13 categories, 294 landmark slots).

    Layouts: ``'coco'`` (``ann_file``: the official COCO json, read with :func:`lean_annotation`)
    or ``'per_image'`` (``ann_file=''``; ``data_prefix['ann']`` holds ``NNNNNN.json``,
    ``data_prefix['img']`` the ``NNNNNN.jpg`` whose headers give the sizes; annotation ids 1, 2,
    ...). ``data_info`` follows docs/architecture.md. Bad input raises
    :class:`DeepFashion2FormatError` naming file and item; ``skip_invalid=True`` drops such items
    (or whole images) with one warning line; :class:`~deepmark_mm.evaluation.DeepFashion2Metric`
    applies the same checks (:func:`read_coco_ground_truth`) and so scores the same items.

    Args:
        data_prefix (dict): ``img`` and (per-image layout) ``ann`` folders.
        layout (str, optional): ``'coco'``, ``'per_image'`` or None (``'coco'`` iff ``ann_file``).
        skip_invalid (bool): Skip bad items with one warning instead of raising.
        check_images (bool): COCO layout: check that every image file exists.
        num_workers (int): Processes that read per-image files.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments; ``filter_cfg`` takes
            ``filter_empty_gt`` and ``min_size`` (training only).

    Attributes:
        invalid (SkipOrRaise): What ``skip_invalid`` skipped.
    """

    METAINFO: dict = dict(classes=CLASSES)

    def __init__(self,
                 *args,
                 data_prefix: dict = dict(img='image/', ann='annos/'),
                 layout: Optional[str] = None,
                 skip_invalid: bool = False,
                 check_images: bool = True,
                 num_workers: int = 0,
                 **kwargs) -> None:
        if layout is not None and layout not in LAYOUTS:
            raise ValueError(
                f'DeepFashion2Dataset: layout must be one of {LAYOUTS}, got {layout!r}')
        self.layout = layout
        self.skip_invalid = skip_invalid
        self.check_images = check_images
        self.num_workers = num_workers
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[Mapping] = None) -> dict:
        """DeepFashion2's metainfo updated by ``metainfo``, checked."""
        merged = get_deepfashion2_metainfo()
        if metainfo is not None:
            if 'classes' in metainfo and tuple(metainfo['classes']) != CLASSES:
                raise ValueError('DeepFashion2Dataset always has the 13 DeepFashion2 classes '
                                 f'{CLASSES}; got classes={metainfo["classes"]}')
            merged.update(metainfo)
        return check_keypoint_metainfo(merged, f'{cls.__name__} metainfo')

    def load_data_list(self) -> List[dict]:
        """One ``data_info`` per image, read in ``layout`` (or the one ``ann_file`` implies)."""
        self.invalid = SkipOrRaise(self.skip_invalid)
        layout = self.layout or ('coco' if self.ann_file else 'per_image')
        if layout == 'coco':
            if not self.ann_file:
                raise ValueError('DeepFashion2Dataset: layout="coco" needs ann_file')
            image_folder = self.data_prefix.get('img', '') if self.check_images else None
            raw_infos = coco_layout_samples(load_json_file(self.ann_file, lean_annotation),
                                            self.ann_file, self.invalid, image_folder)
            source = self.ann_file
        else:
            if 'ann' not in self.data_prefix:
                raise ValueError('DeepFashion2Dataset: the per-image layout needs '
                                 'data_prefix["ann"] (the annos/ folder)')
            source = self.data_prefix['ann']
            raw_infos = []
            for image, annotations, problems in read_per_image_layout(
                    self.data_root, self.num_workers, self.skip_invalid,
                    image_prefix=self.data_prefix.get('img', ''), anno_prefix=source,
                    own_slots_only=True):
                self.invalid.problems.extend(problems)
                self.invalid.skipped_images += image is None
                if image is not None:
                    stem = osp.splitext(image['file_name'])[0]
                    raw_infos.append(dict(raw_img_info=image, raw_ann_info=annotations,
                                          source_file=osp.join(source, stem + '.json')))
        data_list = [self.parse_data_info(raw_info) for raw_info in raw_infos]
        self.invalid.warn(f'DeepFashion2Dataset ({source})')
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """``img_path``, ``img_id``, ``height``, ``width``, ``instances`` of one image from its
        ``raw_img_info``, ``raw_ann_info`` and ``source_file``."""
        image = raw_data_info['raw_img_info']
        raw_data_info.setdefault('source_file', self.ann_file)
        instances = [instance for _, instance in valid_annotations(raw_data_info, self.invalid)]
        return dict(
            img_path=osp.join(self.data_prefix.get('img', ''), image['file_name']),
            img_id=image['id'],
            height=image['height'],
            width=image['width'],
            instances=instances)

    def filter_data(self) -> List[dict]:
        """Training-time filtering by ``filter_cfg`` (``filter_empty_gt``, ``min_size``)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        return [
            data_info for data_info in self.data_list
            if not (filter_empty_gt and not any(
                instance['ignore_flag'] == 0 for instance in data_info['instances']))
            and min(data_info['width'], data_info['height']) >= min_size
        ]

    def _serialize_data(self) -> Tuple[np.ndarray, np.ndarray]:
        """mmengine's serialization, also for an empty data list (everything filtered out)."""
        if not self.data_list:
            return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
        return super()._serialize_data()
