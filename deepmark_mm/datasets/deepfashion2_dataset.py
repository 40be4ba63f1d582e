# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepFashion2 from its official COCO json (``tools/dataset_converters/deepfashion2_to_coco.py``
converts the per-image files), and the metric's ground truth read with the same checks."""
from functools import partial
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmdet.registry import DATASETS

from .deepfashion2_format import coco_annotation_to_instance
from .deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                    get_deepfashion2_metainfo)
from .keypoint_coco_dataset import (KeypointCocoDataset, SkipOrRaise, coco_layout_samples,
                                    load_json_file, valid_annotations)
from .keypoint_metainfo import check_keypoint_metainfo


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


def read_coco_ground_truth(coco: object, source: str, skip_invalid: bool = False,
                           keypoint_slices: Sequence[Sequence[int]] = KEYPOINT_SLICES,
                           classes: Sequence[str] = CATEGORY_NAMES) -> Dict:
    """The metric's ground truth: a loaded COCO json cut to the ``images``, ``annotations`` and
    ``categories`` :class:`DeepFashion2Dataset` keeps, with its checks (image files unread)."""
    invalid = SkipOrRaise(skip_invalid)
    raw_infos = coco_layout_samples(coco, source, invalid)
    to_instance = partial(coco_annotation_to_instance, keypoint_slices=keypoint_slices,
                          classes=classes)
    annotations = [annotation for raw_info in raw_infos
                   for annotation, _ in valid_annotations(raw_info, invalid, to_instance)]
    invalid.warn(f'ground truth ({source})')
    return dict(images=[raw_info['raw_img_info'] for raw_info in raw_infos],
                annotations=annotations, categories=coco.get('categories', []))


@DATASETS.register_module()
class DeepFashion2Dataset(KeypointCocoDataset):
    """DeepFashion2 clothing detection + landmarks (13 categories, 294 landmark slots).

    ``ann_file``: the official COCO json, read with :func:`lean_annotation`; ``data_info`` follows
    docs/architecture.md. :class:`~deepmark_mm.evaluation.DeepFashion2Metric` applies the same
    checks (:func:`read_coco_ground_truth`) and so scores the same items.

    Args:
        check_images (bool): Check that every image file exists.
        **kwargs: :class:`KeypointCocoDataset` arguments.
    """

    METAINFO: dict = dict(classes=CLASSES)
    SAMPLE_FLIP_INDICES = False

    def __init__(self, *args, check_images: bool = True, **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

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

    def _raw_infos(self) -> List[dict]:
        """:func:`coco_layout_samples` of ``ann_file``, its images checked (``check_images``)."""
        if not self.ann_file:
            raise ValueError(
                'DeepFashion2Dataset reads the COCO json: convert the per-image annos/ once with '
                '`python tools/dataset_converters/deepfashion2_to_coco.py SPLIT_DIR OUT.json`')
        image_folder = self.data_prefix.get('img', '') if self.check_images else None
        return coco_layout_samples(load_json_file(self.ann_file, lean_annotation), self.ann_file,
                                   self.invalid, image_folder)
