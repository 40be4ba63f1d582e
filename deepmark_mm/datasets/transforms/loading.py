# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Turn a DeepFashion2 ``data_info['instances']`` list into pipeline ground truth."""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from deepmark_mm.structures import BBoxKeypoints
from ..deepfashion2_metainfo import flip_indices as deepfashion2_flip_indices

_DEEPFASHION2_FLIP = deepfashion2_flip_indices()


@TRANSFORMS.register_module()
class LoadDeepFashion2Annotations(BaseTransform):
    """Build ``gt_bboxes`` (:class:`BBoxKeypoints`), ``gt_bboxes_labels`` and ``gt_ignore_flags``.

    Required keys: ``instances`` (docs/architecture.md). Added keys: ``gt_bboxes`` (N boxes +
    (N, K, 2) landmarks + (N, K) visibility), ``gt_bboxes_labels`` (N,) int64,
    ``gt_ignore_flags`` (N,) bool; ``instances`` is kept for evaluation.

    Args:
        flip_indices (Sequence[int], optional): (K,) flip permutation; ``None`` -> the sample's
            ``flip_indices`` (a dataset that carries its metainfo's, e.g. ``FLDDataset``), else
            DeepFashion2's 294-slot permutation.
    """

    def __init__(self, flip_indices: Optional[Sequence[int]] = None) -> None:
        self.flip_indices = None if flip_indices is None else np.asarray(
            flip_indices, dtype=np.int64)

    def transform(self, results: dict) -> dict:
        """Stack the instances into arrays."""
        instances = results.get('instances', [])
        flip_indices = self.flip_indices
        if flip_indices is None:
            flip_indices = np.asarray(results.get('flip_indices', _DEEPFASHION2_FLIP),
                                      dtype=np.int64)
        num_keypoints = len(flip_indices)

        def stack(key: str, dtype: type, shape: tuple) -> np.ndarray:
            values = [instance[key] for instance in instances]
            return np.asarray(values, dtype=dtype) if values else np.zeros((0, ) + shape, dtype)

        boxes = stack('bbox', np.float32, (4, ))
        keypoints = stack('keypoints', np.float32, (num_keypoints, 2))
        visible = stack('keypoints_visible', np.int64, (num_keypoints, ))
        if keypoints.shape[1:] != (num_keypoints, 2):
            raise ValueError(f'{results.get("img_path")}: instances carry keypoints of shape '
                             f'{keypoints.shape[1:]}, expected ({num_keypoints}, 2)')
        results['gt_bboxes'] = BBoxKeypoints(
            boxes, keypoints=keypoints, keypoints_visible=visible,
            flip_indices=flip_indices, clone=False)
        results['gt_bboxes_labels'] = np.asarray(
            [instance['bbox_label'] for instance in instances], dtype=np.int64)
        results['gt_ignore_flags'] = np.asarray(
            [bool(instance.get('ignore_flag', 0)) for instance in instances], dtype=bool)
        return results

    def __repr__(self) -> str:
        slots = 'from the sample' if self.flip_indices is None else len(self.flip_indices)
        return f'{type(self).__name__}(num_keypoints={slots})'
