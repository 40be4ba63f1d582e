# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Any landmark set in the COCO keypoint layout, described by its ``metainfo``."""
import os.path as osp
from typing import Dict, List, Mapping, Optional

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.fileio import load

from .deepfashion2_format import coco_annotation_to_instance
from .keypoint_metainfo import resolve_keypoint_metainfo


@DATASETS.register_module()
class KeypointCocoDataset(BaseDetDataset):
    """Boxes + landmarks of a COCO keypoint json whose categories own slices of one slot list.

    The landmark set is the checked ``metainfo`` argument (DeepFashion2's when it names no
    ``keypoint_slices``). Category ids are ``label + 1``; each annotation holds ``3 * K`` numbers
    (x, y, v), zero outside its category's slots, or the category's own ``3 * n``.
    ``data_info``: docs/architecture.md.

    ``**kwargs``: :class:`mmdet.datasets.BaseDetDataset` arguments.
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: dict = dict(img='image/'), **kwargs) -> None:
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[Mapping] = None) -> dict:
        """The class's ``METAINFO`` updated by ``metainfo``, checked
        (``resolve_keypoint_metainfo``: DeepFashion2's where neither names slices)."""
        return resolve_keypoint_metainfo({**cls.METAINFO, **(metainfo or {})},
                                         f'{cls.__name__} metainfo')

    def load_data_list(self) -> List[dict]:
        """One ``data_info`` per image, with the set's ``flip_indices``; a ValueError names the
        file and annotation whose category id, keypoint count or labelled slot does not fit."""
        coco = load(self.ann_file, backend_args=self.backend_args)
        if not isinstance(coco, dict) or 'images' not in coco:
            raise ValueError(f'{self.ann_file}: not a COCO annotation file (no "images")')
        self._meta = self.metainfo  # a deep copy per access: read once, not per annotation
        self._categories = {category['id']: category for category in coco.get('categories', [])}
        by_image: Dict[int, List[dict]] = {image['id']: [] for image in coco['images']}
        for annotation in coco.get('annotations', []):
            if annotation['image_id'] not in by_image:
                raise ValueError(f'{self.ann_file}: annotation {annotation.get("id")} refers to '
                                 f'unknown image {annotation["image_id"]}')
            by_image[annotation['image_id']].append(self._instance(annotation))
        return [
            dict(img_path=osp.join(self.data_prefix.get('img', ''), image['file_name']),
                 img_id=image['id'], height=image['height'], width=image['width'],
                 instances=by_image[image['id']], flip_indices=self._meta['flip_indices'])
            for image in coco['images']
        ]

    def _instance(self, annotation: dict) -> dict:
        """One ``data_info`` instance, checked against the set's slices by
        :func:`~.deepfashion2_format.coco_annotation_to_instance` (errors name file and id)."""
        return coco_annotation_to_instance(
            annotation, f'{self.ann_file}: annotation {annotation.get("id")}',
            self._meta['keypoint_slices'], self._meta['classes'])
