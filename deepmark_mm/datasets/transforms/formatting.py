# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Pack a DeepMark pipeline result into ``inputs`` + :class:`DetDataSample`, and the cheap
C-contiguous copy of flipped image views the transforms share."""
from typing import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes, HorizontalBoxes
from mmengine.structures import InstanceData

from deepmark_mm.structures import BBoxKeypoints


def contiguous_image(img: np.ndarray) -> np.ndarray:
    """(H, W[, C]) ``img`` itself when C-contiguous, else a contiguous copy: the negative-stride
    views of mmcv's ``imflip`` via ``cv2.flip`` of the base (numpy copies them pixel by pixel)."""
    if img.flags.c_contiguous:
        return img
    flip_x = img.strides[1] < 0
    flip_y = img.strides[0] < 0
    if flip_x or flip_y:
        base = img[::-1 if flip_y else 1, ::-1 if flip_x else 1]
        if base.flags.c_contiguous and (base.ndim == 2 or base.ndim == 3 and base.shape[2] <= 4):
            return cv2.flip(base, -1 if flip_x and flip_y else (1 if flip_x else 0))
    return np.ascontiguousarray(img)


@TRANSFORMS.register_module()
class PackDeepMarkInputs(BaseTransform):
    """Pack image, boxes, labels and landmarks as docs/architecture.md describes.

    ``inputs`` (3, H, W), dtype kept; ``gt_instances`` / ``ignored_instances`` (by
    ``gt_ignore_flags``) hold ``bboxes``, ``labels`` (N,), ``keypoints`` (N, K, 2) and
    ``keypoints_visible`` (N, K) float32; missing ``homography_matrix`` / ``flip`` are packed as
    the identity / False.

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo when present.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                                             'scale_factor', 'homography_matrix', 'flip',
                                             'flip_direction', 'instances')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results``."""
        packed = dict()
        if 'img' in results:
            img = contiguous_image(results['img'])
            if img.ndim < 3:
                img = img[..., None]
            packed['inputs'] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        data_sample = DetDataSample()
        if results.get('gt_bboxes', None) is not None:
            ignore = np.asarray(
                results.get('gt_ignore_flags', np.zeros(len(results['gt_bboxes']), dtype=bool)),
                dtype=bool)
            data_sample.gt_instances = self._instances(results, ~ignore)
            data_sample.ignored_instances = self._instances(results, ignore)
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        if 'homography_matrix' in self.meta_keys and 'homography_matrix' not in metainfo:
            metainfo['homography_matrix'] = np.eye(3, dtype=np.float32)
        if 'flip' in self.meta_keys and 'flip' not in metainfo:
            metainfo['flip'] = False
            metainfo['flip_direction'] = None
        data_sample.set_metainfo(metainfo)
        packed['data_samples'] = data_sample
        return packed

    @staticmethod
    def _instances(results: dict, keep: np.ndarray) -> InstanceData:
        boxes = results['gt_bboxes'][keep]
        instances = InstanceData()
        box_tensor = boxes.tensor if isinstance(boxes, BaseBoxes) else torch.as_tensor(boxes)
        instances.bboxes = HorizontalBoxes(box_tensor.float().reshape(-1, 4), clone=False)
        labels = results.get('gt_bboxes_labels', np.zeros(len(keep), dtype=np.int64))
        instances.labels = torch.as_tensor(np.asarray(labels)[keep], dtype=torch.int64)
        if isinstance(boxes, BBoxKeypoints):
            instances.keypoints = boxes.keypoints.float()
            instances.keypoints_visible = boxes.keypoints_visible.float()
        return instances

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
