# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Any landmark set in the COCO keypoint layout, described by its ``metainfo``."""
import os.path as osp
from typing import Dict, List, Mapping, Optional

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.fileio import load

from .keypoint_metainfo import category_keypoint_mask, resolve_keypoint_metainfo


@DATASETS.register_module()
class KeypointCocoDataset(BaseDetDataset):
    """Boxes + landmarks of a COCO keypoint json whose categories own slices of one slot list.

    The landmark set is the checked ``metainfo`` argument (DeepFashion2's when it names no
    ``keypoint_slices``). Category ids are ``label + 1``; each annotation holds ``3 * K`` numbers
    (x, y, v), labelled only on its category's slots. ``data_info``: docs/architecture.md.

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
        self._own_slots = category_keypoint_mask(self._meta['num_keypoints'],
                                                 self._meta['keypoint_slices'])
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
        """One ``data_info`` instance from a COCO annotation."""
        classes = self._meta['classes']
        num_keypoints = self._meta['num_keypoints']
        where = f'{self.ann_file}: annotation {annotation.get("id")}'
        label = int(annotation['category_id']) - 1
        if not 0 <= label < len(classes):
            raise ValueError(f'{where}: category_id {label + 1} is outside 1..{len(classes)}')
        keypoints = np.asarray(annotation.get('keypoints', []), dtype=np.float32)
        if keypoints.shape != (3 * num_keypoints, ):
            raise ValueError(f'{where}: {keypoints.size} keypoint numbers, expected '
                             f'{3 * num_keypoints} (x, y, v per slot)')
        keypoints = keypoints.reshape(num_keypoints, 3)
        own = self._own_slots[label]
        if (keypoints[~own, 2] > 0).any():
            raise ValueError(f'{where}: {classes[label]} labels slots outside its slice '
                             f'{self._meta["keypoint_slices"][label]}')
        return coco_instance(annotation, label, keypoints)


def coco_instance(annotation: dict, label: int, keypoints: np.ndarray) -> dict:
    """A ``data_info`` instance: the COCO ``bbox`` (x, y, w, h) as xyxy, ``label``, and
    ``keypoints`` (K, 3) x, y, v split into ``keypoints`` (K, 2) and ``keypoints_visible`` (K,)."""
    x, y, w, h = (float(v) for v in annotation['bbox'])
    return dict(bbox=[x, y, x + w, y + h], bbox_label=label,
                ignore_flag=int(annotation.get('iscrowd', 0)), area=w * h,
                keypoints=keypoints[:, :2].copy(),
                keypoints_visible=keypoints[:, 2].astype(np.uint8))
