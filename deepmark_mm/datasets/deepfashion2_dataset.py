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
from .landmark_metainfo import check_landmark_metainfo

LAYOUTS = ('coco', 'per_image')


class SkipOrRaise:
    """What to do with an invalid item or image: raise its error, or (``skip_invalid``) record it.

    Args:
        skip_invalid (bool): Record and skip instead of raising.

    Attributes:
        problems (list[str]): The recorded errors (``'file: image / item: problem'``).
        skipped_images (int): How many of them dropped a whole image.
    """

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
    """``(annotation, instance)`` of each of one image's annotations that passes
    :func:`~.deepfashion2_format.coco_annotation_to_instance`; ``on_invalid`` gets the others'
    errors, which name file, image (id and file name) and annotation id.

    Args:
        raw_data_info (dict): ``raw_img_info``, ``raw_ann_info`` and ``source_file``.
        on_invalid (Callable): Raises or records (the annotation is then dropped).
        keypoint_slices, classes: The landmark set (DeepFashion2's by default).
    """
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
    """A loaded COCO json cut down to what :class:`DeepFashion2Dataset` keeps from it (the images
    with usable records, the valid annotations; image files are not looked at), with the dataset's
    checks and errors; for the metric's ground truth.

    Returns:
        dict: ``images``, ``annotations`` (the file's own dicts), ``categories``.
    """
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

    Two layouts:

    * ``'coco'``: ``ann_file`` is the official COCO json (``deepfashion2_to_coco.py`` output);
      images are ``data_prefix['img'] / file_name``.
    * ``'per_image'``: ``ann_file=''``; ``data_prefix['ann']`` holds ``NNNNNN.json`` files
      (``item1..itemN``) and ``data_prefix['img']`` the ``NNNNNN.jpg`` images (their sizes are read
      from the JPEG headers). Annotation ids are numbered 1, 2, ... like the official converter.

    ``data_info`` follows docs/architecture.md (boxes xyxy in original pixels, ``bbox_label`` =
    category_id - 1, ``keypoints`` (294, 2) float32 and ``keypoints_visible`` (294,) uint8 arrays,
    ``area`` = w * h). Items whose landmarks are all unlabelled are kept. The COCO json is read
    with :func:`lean_annotation` as ``json.load`` hook (docs/scale_and_robustness.md).

    Bad input (missing image, unreadable json, category id outside 1..13, landmark count not
    fitting the category, visibility outside {0, 1, 2}, degenerate/inverted box) raises
    :class:`DeepFashion2FormatError` naming file and item; with ``skip_invalid=True`` such items
    (or whole images, for file-level problems) are dropped, one warning line counts them and
    ``invalid.problems`` lists them. :class:`~deepmark_mm.evaluation.DeepFashion2Metric` checks its
    ``ann_file`` with the same functions (:func:`read_coco_ground_truth`) and, given the same
    ``skip_invalid``, scores exactly the items this dataset keeps.

    Args:
        ann_file (str): COCO json; ``''`` for the per-image layout.
        data_prefix (dict): ``img`` (image folder) and, per-image layout, ``ann`` (annotation
            folder). Defaults to ``dict(img='image/', ann='annos/')``.
        layout (str, optional): ``'coco'`` or ``'per_image'``; ``None``: ``'coco'`` when
            ``ann_file`` is set.
        skip_invalid (bool): Skip bad items with one warning instead of raising. Defaults to False.
        check_images (bool): COCO layout: check that every image file exists. Defaults to True.
        num_workers (int): Processes that read per-image files. Defaults to 0.
        filter_cfg (dict, optional): ``filter_empty_gt`` (drop images without instances) and
            ``min_size`` (drop images whose shorter side is smaller), training only.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments.

    Attributes:
        invalid (SkipOrRaise): After loading, what ``skip_invalid`` skipped (``problems``,
            ``skipped_images``).
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
        """One image's ``data_info`` from its COCO image record and annotations.

        Args:
            raw_data_info (dict): ``raw_img_info`` (COCO image), ``raw_ann_info`` (list of COCO
                annotations) and ``source_file`` (for messages).

        Returns:
            dict: ``img_path``, ``img_id``, ``height``, ``width``, ``instances``.
        """
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
