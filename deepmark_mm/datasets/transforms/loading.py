# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Loading: images that survive undecodable files, and ``data_info['instances']`` as pipeline
ground truth."""
import logging
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log

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


class TooManyBadImagesError(RuntimeError):
    """More than ``max_bad_share`` of the attempted image loads failed."""


@TRANSFORMS.register_module()
class LoadImageFromFileOrSkip(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` that returns ``None`` for an unreadable image.

    mmcv raises on a corrupt file, ending a run; here each bad file logs one WARNING and
    mmengine's ``BaseDataset`` draws another index. Once ``min_loads`` loads were attempted (per
    worker) and more than ``max_bad_share`` failed, :class:`TooManyBadImagesError` stops the run.
    For training only (test-time datasets do not refetch).

    Args:
        max_bad_share (float): Largest tolerated share of failed loads. Defaults to 0.01.
        min_loads (int): Loads attempted before the share is checked (a worker's first bad file
            is not yet a 100% share). Defaults to 100.
        **kwargs: ``LoadImageFromFile`` arguments.
    """

    def __init__(self, max_bad_share: float = 0.01, min_loads: int = 100, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= max_bad_share <= 1:
            raise ValueError(f'max_bad_share must be in [0, 1], got {max_bad_share}')
        self.max_bad_share = max_bad_share
        self.min_loads = min_loads
        self.num_loads = 0
        self.num_failed = 0
        self.bad_files: List[str] = []

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``; ``None`` when it cannot be read or decoded."""
        self.num_loads += 1
        try:
            loaded = super().transform(results)
        except Exception as error:  # mmcv: AssertionError; decoders / file backends: others
            self._record_failure(results['img_path'], error)
            return None
        if loaded is None:  # ignore_empty=True and a missing file
            self._record_failure(results['img_path'], FileNotFoundError(results['img_path']))
        return loaded

    def _record_failure(self, path: str, error: Exception) -> None:
        self.num_failed += 1
        if path not in self.bad_files:
            self.bad_files.append(path)
            print_log(
                f'LoadImageFromFileOrSkip: skipping unreadable image {path} '
                f'({type(error).__name__}: {error}); another sample is drawn instead',
                logger='current',
                level=logging.WARNING)
        share = self.num_failed / self.num_loads
        if self.num_loads >= self.min_loads and share > self.max_bad_share:
            raise TooManyBadImagesError(
                f'{self.num_failed} of {self.num_loads} image loads failed ({share:.1%} > '
                f'max_bad_share={self.max_bad_share:.1%}) in {len(self.bad_files)} files, first: '
                f'{self.bad_files[:5]}. Run tools/analysis_tools/check_dataset.py CONFIG to list '
                'every bad file, then fix or remove them (or raise max_bad_share).')

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', max_bad_share={self.max_bad_share}, '
                f'min_loads={self.min_loads})')
