# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``--tta`` on any DeepMark config: the config's ``tta_model`` (default: ``DeepMarkTTAModel``
with flip fusion) fed one view per scale of ``tta_scales`` (default ``[1.0]``), each view the test
pipeline with its ``CenterAffine`` resized by the scale; or the config's own ``tta_pipeline``.
"""
import copy
from typing import List, Sequence, Tuple

from mmengine.config import Config

from deepmark_mm.datasets.keypoint_metainfo import config_flip_indices, leaf_dataset_configs

#: What ``--tta`` wraps the detector in when the config says nothing.
DEFAULT_TTA_MODEL = dict(type='DeepMarkTTAModel', flip=True)


def _as_dict(step) -> dict:
    return copy.deepcopy(dict(step))


def tta_pipeline_from_test_pipeline(test_pipeline: Sequence[dict],
                                    scales: Sequence[float] = (1.0, )) -> List[dict]:
    """``[loading steps..., TestTimeAug(transforms=[[views...], [later steps]...])]``: the
    ``Load*`` steps of ``test_pipeline`` in front, one view per input-size factor of ``scales``
    (``CenterAffine`` resized); ValueError for several scales without a ``CenterAffine``."""
    steps = [_as_dict(step) for step in test_pipeline]
    first_view = next((i for i, s in enumerate(steps) if not s['type'].startswith('Load')),
                      len(steps))
    transforms = [[step] for step in steps[first_view:]]
    warp = next((i for i, [s] in enumerate(transforms) if s['type'] == 'CenterAffine'), None)
    if warp is None and list(scales) != [1.0]:
        raise ValueError(f'tta_scales={list(scales)} needs a CenterAffine step in the test '
                         'pipeline to resize')
    if warp is not None:
        affine = transforms[warp][0]
        size = affine.get('input_size', 512)
        sizes = [size] * 2 if isinstance(size, int) else list(size)
        transforms[warp] = [
            dict(affine, input_size=tuple(round(side * scale) for side in sizes))
            for scale in scales
        ]
    return steps[:first_view] + [dict(type='TestTimeAug', transforms=transforms)]


def resolve_tta_config(cfg: Config) -> Tuple[dict, List[dict]]:
    """The ``tta_model`` (without ``module``; ``flip_indices`` from the test dataset's metainfo
    when it gives none) and ``tta_pipeline`` of ``cfg``, or the defaults; the test datasets
    (wrapped or concatenated) must share one ``pipeline``."""
    tta_model = _as_dict(cfg.get('tta_model', None) or DEFAULT_TTA_MODEL)
    flip = config_flip_indices(cfg)
    if tta_model.get('flip_indices', None) is None and flip is not None:
        tta_model['flip_indices'] = flip
    tta_pipeline = cfg.get('tta_pipeline', None)
    if tta_pipeline is None:
        leaves = leaf_dataset_configs(cfg.test_dataloader.dataset)
        pipelines = [leaf['pipeline'] for leaf in leaves]
        if any(pipeline != pipelines[0] for pipeline in pipelines):
            raise ValueError('the test datasets have different pipelines: give the config a '
                             'tta_pipeline')
        tta_pipeline = tta_pipeline_from_test_pipeline(pipelines[0], cfg.get('tta_scales', [1.0]))
    return tta_model, [_as_dict(step) for step in tta_pipeline]
