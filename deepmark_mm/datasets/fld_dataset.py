# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The DeepFashion (1) fashion landmark set (FLD, Liu et al., ECCV 2016): three clothing types
owning the slots ``[0, 6)``, ``[6, 10)``, ``[10, 18)`` in mmpose's landmark order ("left" is the
garment's left), its metainfo (OKS sigmas borrowed from DeepFashion2: docs/fld.md) and its dataset
(mmpose's json as it is)."""
from typing import Dict, Optional, Tuple

from mmdet.registry import DATASETS

from .deepfashion2_format import DeepFashion2FormatError
from .keypoint_coco_dataset import KeypointCocoDataset

#: Category names (label order) and each type's landmarks in mmpose's json order.
FLD_TYPES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('upper_body', ('left collar', 'right collar', 'left sleeve', 'right sleeve', 'left hem',
                    'right hem')),
    ('lower_body', ('left waistline', 'right waistline', 'left hem', 'right hem')),
    ('full_body', ('left collar', 'right collar', 'left sleeve', 'right sleeve',
                   'left waistline', 'right waistline', 'left hem', 'right hem')),
)

#: OKS sigma per landmark kind (docs/fld.md); the hem depends on the type.
_KIND_SIGMAS = dict(collar=0.0158, sleeve=0.0322, waistline=0.0279)
_HEM_SIGMAS = dict(upper_body=0.0492, lower_body=0.0446, full_body=0.0446)

#: Outline links per type, by landmark name (drawing only).
_OUTLINES = dict(
    upper_body=(('left collar', 'right collar'), ('left collar', 'left sleeve'),
                ('right collar', 'right sleeve'), ('left sleeve', 'left hem'),
                ('right sleeve', 'right hem'), ('left hem', 'right hem')),
    lower_body=(('left waistline', 'right waistline'), ('left waistline', 'left hem'),
                ('right waistline', 'right hem'), ('left hem', 'right hem')),
    full_body=(('left collar', 'right collar'), ('left collar', 'left sleeve'),
               ('right collar', 'right sleeve'), ('left sleeve', 'left waistline'),
               ('right sleeve', 'right waistline'), ('left waistline', 'left hem'),
               ('right waistline', 'right hem'), ('left hem', 'right hem')),
)


def get_fld_metainfo() -> Dict:
    """FLD's landmark metainfo: 3 types over slots ``[0, 6), [6, 10), [10, 18)``, mmpose's
    ``keypoint_names``, ``flip_indices``, ``sigmas``, ``skeletons`` and ``palette``."""
    slices, names, flip, sigmas, skeletons, start = [], [], [], [], [], 0
    for type_name, landmarks in FLD_TYPES:
        slot = {name: start + index for index, name in enumerate(landmarks)}
        for name in landmarks:
            side, kind = name.split(' ')
            flip.append(slot[('right ' if side == 'left' else 'left ') + kind])
            sigmas.append(_HEM_SIGMAS[type_name] if kind == 'hem' else _KIND_SIGMAS[kind])
        skeletons.append([(slot[a], slot[b]) for a, b in _OUTLINES[type_name]])
        slices.append([start, start + len(landmarks)])
        names.extend(landmarks)
        start += len(landmarks)
    return dict(dataset_name='fld', classes=tuple(type_name for type_name, _ in FLD_TYPES),
                keypoint_slices=slices, keypoint_names=names, flip_indices=flip, sigmas=sigmas,
                skeletons=skeletons, palette=[(220, 60, 60), (60, 120, 220), (60, 180, 90)])


_TYPE_NAMES = tuple(type_name for type_name, _ in FLD_TYPES)


@DATASETS.register_module()
class FLDDataset(KeypointCocoDataset):
    """FLD boxes + landmarks from mmpose's COCO-layout json, each garment type a category.

    mmpose's files (``fld_{upper,lower,full}_{train,val,test}.json``, also written by
    ``tools/dataset_converters/fld_lab_photos_to_coco.py``) hold one category whose
    ``keypoints`` names the type's landmarks. An annotation's type is ``clothing_type`` when
    given, else the one the category's landmark names match, else the one with as many landmarks
    (6 upper, 4 lower, 8 full); its (x, y, v) go to that type's slots of
    :func:`get_fld_metainfo`. Files combine with ``ConcatDataset``.

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

    def _instance(self, annotation: dict, where: str) -> dict:
        """One ``data_info`` instance: the annotation's landmarks in its type's slots."""
        category = self._categories.get(annotation.get('category_id'), {})
        label = self._type_label(len(annotation.get('keypoints') or []),
                                 tuple(category.get('keypoints') or ()), where)
        return super()._instance(dict(annotation, category_id=label + 1), where)

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
            raise DeepFashion2FormatError(f'{where}: {num_values} keypoint numbers fit no FLD '
                                          f'type (x, y, v per landmark: {expected})')
        return label
