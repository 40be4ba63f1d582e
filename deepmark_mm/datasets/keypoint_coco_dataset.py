# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Any landmark set in the COCO keypoint layout, described by its ``metainfo``, and the checked
COCO reading that every dataset and the metric share (bad records named by file and item)."""
import json
import logging
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.fileio import load
from mmengine.logging import print_log

from .deepfashion2_format import (DeepFashion2FormatError, check_fields,
                                  coco_annotation_to_instance)
from .keypoint_metainfo import resolve_keypoint_metainfo

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


def valid_annotations(raw_data_info: dict, on_invalid: OnInvalid,
                      to_instance: Callable[[dict, str], dict] = coco_annotation_to_instance
                      ) -> List[Tuple[dict, dict]]:
    """``(annotation, to_instance(annotation, where))`` of each annotation of one
    ``raw_data_info`` that ``to_instance`` accepts; ``on_invalid`` gets the others' errors (naming
    file, image and annotation id)."""
    image = raw_data_info['raw_img_info']
    kept = []
    for annotation in raw_data_info['raw_ann_info']:
        where = f'{raw_data_info["source_file"]}: image {image["id"]} ' \
                f'({image["file_name"]}) annotation {annotation.get("id")}'
        try:
            kept.append((annotation, to_instance(annotation, where)))
        except DeepFashion2FormatError as error:
            on_invalid(error, False)
    return kept


@DATASETS.register_module()
class KeypointCocoDataset(BaseDetDataset):
    """Boxes + landmarks of a COCO keypoint json whose categories own slices of one slot list.

    The landmark set is the checked ``metainfo`` argument (DeepFashion2's when it names no
    ``keypoint_slices``). Category ids are ``label + 1``; each annotation holds ``3 * K`` numbers
    (x, y, v), zero outside its category's slots, or the category's own ``3 * n``.
    ``data_info``: docs/architecture.md (plus the set's ``flip_indices``).

    Args:
        skip_invalid (bool): Skip bad items (or whole images) with one warning line instead of
            raising :class:`DeepFashion2FormatError` naming file and item.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments; ``filter_cfg`` takes
            ``filter_empty_gt`` and ``min_size`` (training only).

    Attributes:
        invalid (SkipOrRaise): What ``skip_invalid`` skipped.
    """

    METAINFO: dict = dict()
    #: Whether ``data_info`` carries the set's ``flip_indices`` (DeepFashion2's are the default).
    SAMPLE_FLIP_INDICES = True

    def __init__(self,
                 *args,
                 data_prefix: dict = dict(img='image/'),
                 skip_invalid: bool = False,
                 **kwargs) -> None:
        self.skip_invalid = skip_invalid
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[Mapping] = None) -> dict:
        """The class's ``METAINFO`` updated by ``metainfo``, checked by
        :func:`~.keypoint_metainfo.resolve_keypoint_metainfo`."""
        return resolve_keypoint_metainfo({**cls.METAINFO, **(metainfo or {})},
                                         f'{cls.__name__} metainfo')

    def load_data_list(self) -> List[dict]:
        """One ``data_info`` per usable image of ``ann_file``."""
        self.invalid = SkipOrRaise(self.skip_invalid)
        self._meta = self.metainfo  # a deep copy per access: read once, not per annotation
        data_list = [self.parse_data_info(raw_info) for raw_info in self._raw_infos()]
        self.invalid.warn(f'{type(self).__name__} ({self.ann_file})')
        return data_list

    def _raw_infos(self) -> List[dict]:
        """:func:`coco_layout_samples` of ``ann_file``."""
        coco = load(self.ann_file, backend_args=self.backend_args)
        raw_infos = coco_layout_samples(coco, self.ann_file, self.invalid)
        self._categories = {category['id']: category for category in coco.get('categories', [])}
        return raw_infos

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """``img_path``, ``img_id``, ``height``, ``width``, ``instances`` (and ``flip_indices``)
        of one :func:`coco_layout_samples` record (``source_file``: ``ann_file`` if not given)."""
        raw_data_info.setdefault('source_file', self.ann_file)
        image = raw_data_info['raw_img_info']
        instances = valid_annotations(raw_data_info, self.invalid, self._instance)
        data_info = dict(
            img_path=osp.join(self.data_prefix.get('img', ''), image['file_name']),
            img_id=image['id'],
            height=image['height'],
            width=image['width'],
            instances=[instance for _, instance in instances])
        if self.SAMPLE_FLIP_INDICES:
            data_info['flip_indices'] = self._meta['flip_indices']
        return data_info

    def _instance(self, annotation: dict, where: str) -> dict:
        """One ``data_info`` instance, checked against the set's slices."""
        return coco_annotation_to_instance(annotation, where, self._meta['keypoint_slices'],
                                           self._meta['classes'])

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
