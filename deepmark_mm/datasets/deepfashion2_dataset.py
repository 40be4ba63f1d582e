# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 in either of its layouts: the official COCO json or per-image files."""
import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from .deepfashion2_converter import (OnInvalid, coco_layout_samples, load_json_file,
                                     read_per_image_layout)
from .deepfashion2_format import DeepFashion2FormatError, coco_annotation_to_instance
from .deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                    get_deepfashion2_metainfo)
from .keypoint_metainfo import check_keypoint_metainfo

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


#: The COCO json reader (``json.load`` with ``object_hook``; errors name the file).
load_coco_json = load_json_file


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
            raw_infos = coco_layout_samples(load_coco_json(self.ann_file, lean_annotation),
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
