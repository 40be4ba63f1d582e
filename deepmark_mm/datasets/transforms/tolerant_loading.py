# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Image loading that survives undecodable files: warn once, let the dataset refetch."""
import logging
from typing import List, Optional

from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine.logging import print_log


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
