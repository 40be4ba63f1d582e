# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 in either of its layouts: the official COCO json or per-image files."""
import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from .deepfashion2_compact import compact_instance, expand_instance, slim_coco_annotation
from .deepfashion2_converter import load_json_file, read_per_image_layout
from .deepfashion2_format import DeepFashion2FormatError, coco_annotation_to_instance
from .deepfashion2_json_stream import load_coco_json_streaming
from .deepfashion2_metainfo import CLASSES, get_deepfashion2_metainfo
from .landmark_metainfo import check_landmark_metainfo

LAYOUTS = ('coco', 'per_image')


@DATASETS.register_module()
class DeepFashion2Dataset(BaseDetDataset):
    """DeepFashion2 clothing detection + landmarks (13 categories, 294 landmark slots).

    Two layouts:

    * ``'coco'``: ``ann_file`` is the official COCO json (``deepfashion2_to_coco.py`` output);
      images are ``data_prefix['img'] / file_name``.
    * ``'per_image'``: ``ann_file=''``; ``data_prefix['ann']`` holds ``NNNNNN.json`` files
      (``item1..itemN``) and ``data_prefix['img']`` the ``NNNNNN.jpg`` images (their sizes are read
      from the JPEG headers). Annotation ids are numbered 1, 2, ... like the official converter.

    ``data_info`` follows docs/architecture.md (boxes xyxy in original pixels, ``bbox_label`` =
    category_id - 1, ``keypoints`` (294, 2) float32 and ``keypoints_visible`` (294,) uint8 arrays,
    ``area`` = w * h). Items whose landmarks are all unlabelled are kept. In memory (``data_list``
    and the serialized buffer the dataloader workers share) an instance keeps only its category's
    own slots (``own_keypoints`` (n, 2), ``own_keypoints_visible`` (n,), see
    ``deepfashion2_compact``); :meth:`get_data_info` returns the full arrays. The COCO json is
    streamed (``deepfashion2_json_stream``): its 882-number keypoint lists never all exist at once.

    Bad input (missing image, unreadable json, category id outside 1..13, landmark count not
    fitting the category, visibility outside {0, 1, 2}, degenerate/inverted box) raises
    :class:`DeepFashion2FormatError` naming file and item; with ``skip_invalid=True`` such items
    (or whole images, for file-level problems) are dropped and one warning line counts them.

    Args:
        ann_file (str): COCO json; ``''`` for the per-image layout.
        data_prefix (dict): ``img`` (image folder) and, per-image layout, ``ann`` (annotation
            folder). Defaults to ``dict(img='image/', ann='annos/')``.
        layout (str, optional): ``'coco'`` or ``'per_image'``; ``None`` -> ``'coco'`` when
            ``ann_file`` is set, else ``'per_image'``.
        skip_invalid (bool): Skip bad items with one warning instead of raising. Defaults to False.
        check_images (bool): COCO layout: check that every image file exists. Defaults to True.
        num_workers (int): Processes that read per-image files. Defaults to 0.
        filter_cfg (dict, optional): ``filter_empty_gt`` (drop images without instances) and
            ``min_size`` (drop images whose shorter side is smaller), training only.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments.
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
        """DeepFashion2's metainfo (``get_deepfashion2_metainfo``), updated by ``metainfo`` and
        checked (:func:`~.landmark_metainfo.check_landmark_metainfo`)."""
        merged = get_deepfashion2_metainfo()
        if metainfo is not None:
            if 'classes' in metainfo and tuple(metainfo['classes']) != CLASSES:
                raise ValueError('DeepFashion2Dataset always has the 13 DeepFashion2 classes '
                                 f'{CLASSES}; got classes={metainfo["classes"]}')
            merged.update(metainfo)
        return check_landmark_metainfo(merged, f'{cls.__name__} metainfo')

    @property
    def resolved_layout(self) -> str:
        """The layout in use (``layout`` or the one implied by ``ann_file``)."""
        layout = self.layout or ('coco' if self.ann_file else 'per_image')
        if layout == 'coco' and not self.ann_file:
            raise ValueError('DeepFashion2Dataset: layout="coco" needs ann_file')
        if layout == 'per_image' and 'ann' not in self.data_prefix:
            raise ValueError('DeepFashion2Dataset: the per-image layout needs data_prefix["ann"] '
                             '(the annos/ folder)')
        return layout

    def load_data_list(self) -> List[dict]:
        """Read the annotations of the configured layout.

        Returns:
            list[dict]: One ``data_info`` per image.
        """
        self._problems: List[str] = []
        self._skipped_images = 0
        if self.resolved_layout == 'coco':
            raw_infos = self._read_coco_layout()
            source = self.ann_file
        else:
            raw_infos = self._read_per_image_layout()
            source = self.data_prefix['ann']
        data_list = [self.parse_data_info(raw_info) for raw_info in raw_infos]
        if self._problems:
            skipped_items = len(self._problems) - self._skipped_images
            print_log(
                f'DeepFashion2Dataset ({source}): skipped {skipped_items} invalid items and '
                f'{self._skipped_images} unusable images (skip_invalid=True); first: '
                f'{self._problems[0]}',
                logger='current',
                level=logging.WARNING)
        return data_list

    def _read_coco_layout(self) -> List[dict]:
        """``raw_img_info`` + ``raw_ann_info`` per image of the COCO json."""
        coco = self._load_coco_json()
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list) or \
                not isinstance(coco.get('annotations'), list):
            raise DeepFashion2FormatError(
                f'{self.ann_file}: not a COCO annotation file (needs "images" and "annotations" '
                'lists)')
        by_image: Dict[int, List[dict]] = {}
        raw_infos = []
        for image in coco['images']:
            where = f'{self.ann_file}: image {image.get("id")} ({image.get("file_name")})'
            try:
                self._check_coco_image(image, where)
            except DeepFashion2FormatError as error:
                self._skip_or_raise(error, whole_image=True)
                continue
            by_image[image['id']] = []
            raw_infos.append(dict(raw_img_info=image, raw_ann_info=by_image[image['id']]))
        known_ids = {image.get('id') for image in coco['images']}
        for number, annotation in enumerate(coco['annotations']):
            if not isinstance(annotation, dict):
                self._skip_or_raise(DeepFashion2FormatError(
                    f'{self.ann_file}: annotations[{number}] is a {type(annotation).__name__}, '
                    'expected an object'))
                continue
            image_id = annotation.get('image_id')
            if image_id not in known_ids:
                self._skip_or_raise(DeepFashion2FormatError(
                    f'{self.ann_file}: annotation {annotation.get("id")} refers to unknown image '
                    f'{image_id}'))
            elif image_id in by_image:
                by_image[image_id].append(annotation)
        for raw_info in raw_infos:
            raw_info['source_file'] = self.ann_file
        return raw_infos

    def _load_coco_json(self) -> object:
        """The COCO json with slimmed annotations (:func:`slim_coco_annotation`), streamed;
        ``json.load`` (and its error messages) for files the streaming reader does not take."""
        try:
            coco = load_coco_json_streaming(self.ann_file, slim_coco_annotation)
        except OSError:
            coco = None
        if coco is None:
            coco = load_json_file(self.ann_file)
            if isinstance(coco, dict) and isinstance(coco.get('annotations'), list):
                coco['annotations'] = [slim_coco_annotation(a) for a in coco['annotations']]
        return coco

    def _check_coco_image(self, image: dict, where: str) -> None:
        for key in ('id', 'file_name', 'width', 'height'):
            if key not in image:
                raise DeepFashion2FormatError(f'{where}: missing field "{key}"')
        if not (isinstance(image['width'], int) and isinstance(image['height'], int)
                and image['width'] > 0 and image['height'] > 0):
            raise DeepFashion2FormatError(
                f'{where}: width/height {image["width"]}x{image["height"]} are not positive '
                'integers')
        path = osp.join(self.data_prefix.get('img', ''), image['file_name'])
        if self.check_images and not osp.isfile(path):
            raise DeepFashion2FormatError(f'{where}: image file not found: {path}')

    def _read_per_image_layout(self) -> List[dict]:
        """Per-image files converted to ``raw_img_info`` + COCO ``raw_ann_info``."""
        samples = read_per_image_layout(
            self.data_root,
            workers=self.num_workers,
            skip_invalid=self.skip_invalid,
            image_prefix=self.data_prefix.get('img', ''),
            anno_prefix=self.data_prefix['ann'],
            own_slots_only=True,
            annotation_transform=slim_coco_annotation)
        raw_infos = []
        for image, annotations, problems in samples:
            self._problems.extend(problems)
            if image is None:
                self._skipped_images += 1
                continue
            raw_infos.append(
                dict(
                    raw_img_info=image,
                    raw_ann_info=annotations,
                    source_file=osp.join(self.data_prefix['ann'],
                                         osp.splitext(image['file_name'])[0] + '.json')))
        return raw_infos

    def _skip_or_raise(self, error: DeepFashion2FormatError, whole_image: bool = False) -> None:
        if not self.skip_invalid:
            raise DeepFashion2FormatError(f'{error} (set skip_invalid=True to skip such items)')
        self._problems.append(str(error))
        self._skipped_images += int(whole_image)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """One image's ``data_info`` from its COCO image record and annotations.

        Args:
            raw_data_info (dict): ``raw_img_info`` (COCO image), ``raw_ann_info`` (list of COCO
                annotations) and ``source_file`` (for messages).

        Returns:
            dict: ``img_path``, ``img_id``, ``height``, ``width``, ``instances`` (compact, see
            :func:`compact_instance`).
        """
        image = raw_data_info['raw_img_info']
        source = raw_data_info.get('source_file', self.ann_file)
        instances = []
        for annotation in raw_data_info['raw_ann_info']:
            where = f'{source}: image {image["id"]} ({image["file_name"]}) annotation ' \
                    f'{annotation.get("id")}'
            try:
                instances.append(compact_instance(coco_annotation_to_instance(annotation, where)))
            except DeepFashion2FormatError as error:
                self._skip_or_raise(error)
        return dict(
            img_path=osp.join(self.data_prefix.get('img', ''), image['file_name']),
            img_id=image['id'],
            height=image['height'],
            width=image['width'],
            instances=instances)

    def get_data_info(self, idx: int) -> dict:
        """The ``data_info`` of sample ``idx``, instances with full (294, ...) keypoint arrays."""
        data_info = super().get_data_info(idx)
        data_info['instances'] = [expand_instance(instance) for instance in data_info['instances']]
        return data_info

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
