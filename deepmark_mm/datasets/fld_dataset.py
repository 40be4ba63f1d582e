# Copyright (c) deepmark_mm contributors. All rights reserved.
"""mmpose's DeepFashion (1) fashion landmark (FLD) json as DeepMark's three-type landmark set."""
from typing import Optional

import numpy as np
from mmdet.registry import DATASETS

from .fld_metainfo import FLD_TYPES, get_fld_metainfo
from .keypoint_coco_dataset import KeypointCocoDataset, coco_instance

_TYPE_NAMES = tuple(type_name for type_name, _ in FLD_TYPES)


@DATASETS.register_module()
class FLDDataset(KeypointCocoDataset):
    """FLD boxes + landmarks from mmpose's COCO-layout json, each garment type a category.

    mmpose's files (``fld_{upper,lower,full}_{train,val,test}.json``, also written by
    ``tools/dataset_converters/fld_lab_photos_to_coco.py``) hold one category whose
    ``keypoints`` names the type's landmarks. An annotation's type is ``clothing_type`` when
    given, else the one the category's landmark names match, else the one with as many landmarks
    (6 upper, 4 lower, 8 full); its (x, y, v) go to that type's slots of
    :func:`~.fld_metainfo.get_fld_metainfo`. Files combine with ``ConcatDataset``.

    Args:
        clothing_type (str, optional): ``'upper_body'``, ``'lower_body'`` or ``'full_body'`` for
            every annotation (None: from the file, see above).
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments.
    """

    METAINFO: dict = get_fld_metainfo()

    def __init__(self,
                 *args,
                 clothing_type: Optional[str] = None,
                 data_prefix: dict = dict(img=''),
                 **kwargs) -> None:
        if clothing_type is not None and clothing_type not in _TYPE_NAMES:
            raise ValueError(f'FLDDataset: clothing_type must be one of {_TYPE_NAMES}, got '
                             f'{clothing_type!r}')
        self.clothing_type = clothing_type
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _instance(self, annotation: dict) -> dict:
        """One ``data_info`` instance: the annotation's landmarks placed in its type's slots."""
        where = f'{self.ann_file}: annotation {annotation.get("id")}'
        values = np.asarray(annotation.get('keypoints', []), dtype=np.float32)
        category = self._categories.get(annotation.get('category_id'), {})
        label = self._type_label(values.size, tuple(category.get('keypoints') or ()), where)
        start, end = self._meta['keypoint_slices'][label]
        keypoints = np.zeros((self._meta['num_keypoints'], 3), dtype=np.float32)
        keypoints[start:end] = values.reshape(end - start, 3)
        if min(float(size) for size in annotation['bbox'][2:]) <= 0:
            raise ValueError(f'{where}: box {annotation["bbox"]} has no area')
        return coco_instance(annotation, label, keypoints)

    def _type_label(self, num_values: int, category_keypoints: tuple, where: str) -> int:
        """The type (label) of an annotation with ``num_values`` keypoint numbers."""
        if self.clothing_type is not None:
            label = _TYPE_NAMES.index(self.clothing_type)
        else:
            by_names = [i for i, (_, names) in enumerate(FLD_TYPES) if names == category_keypoints]
            by_count = [i for i, (_, names) in enumerate(FLD_TYPES) if 3 * len(names) == num_values]
            label = (by_names or by_count or [-1])[0]
        if label < 0 or 3 * len(FLD_TYPES[label][1]) != num_values:
            expected = ', '.join(f'{3 * len(names)} ({type_name})'
                                 for type_name, names in FLD_TYPES)
            raise ValueError(f'{where}: {num_values} keypoint numbers fit no FLD type '
                             f'(x, y, v per landmark: {expected})')
        return label
