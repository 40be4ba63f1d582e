# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``DeepMarkInferencer``: images in; garments, categories and landmarks out (+ drawings, JSON);
and the test pipeline fed by paths or BGR arrays (shared with the ONNX wrapper and int8)."""
import copy
import json
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmdet.apis import DetInferencer
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils.misc import IMG_EXTENSIONS
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.model import BaseTTAModel
from mmengine.registry import DefaultScope
from mmengine.utils import scandir
from mmengine.visualization import Visualizer

from deepmark_mm.datasets.keypoint_metainfo import config_dataset_metainfo, config_test_pipeline
from deepmark_mm.engine.hooks import head_keypoint_metainfo
from deepmark_mm.evaluation import DeepFashion2Metric
from deepmark_mm.models.test_time_augs import resolve_tta_config
from deepmark_mm.utils import load_model_checkpoint
from .config_resolution import load_deepmark_config
from .prediction_format import (prediction_to_instances, prediction_to_readable,
                                sample_to_prediction, select_detections)

#: Visualiser types replaced by :class:`~deepmark_mm.visualization.DeepMarkVisualizer`.
PLAIN_DETECTION_VISUALIZERS = (None, 'DetLocalVisualizer', 'mmdet.DetLocalVisualizer')

ImageInput = Union[str, np.ndarray]

#: Meta keys of dataset samples only; dropped for inference.
DATASET_ONLY_META_KEYS = ('img_id', 'instances')

LOADER_TYPES = ('LoadImageFromFile', 'mmcv.LoadImageFromFile', 'mmdet.LoadImageFromFile')


def _adapt_transforms(transforms: List, input_size: Optional[Tuple[int, int]]) -> None:
    """In place: drop dataset-only meta keys and set ``CenterAffine`` sizes, recursively."""
    for transform in transforms:
        if isinstance(transform, list):  # TestTimeAug's list of alternatives
            _adapt_transforms(transform, input_size)
            continue
        if not isinstance(transform, dict):
            continue
        if 'transforms' in transform:
            _adapt_transforms(transform['transforms'], input_size)
        if 'meta_keys' in transform:
            transform['meta_keys'] = tuple(key for key in transform['meta_keys']
                                           if key not in DATASET_ONLY_META_KEYS)
        if input_size is not None and str(transform.get('type', '')).split('.')[-1] == \
                'CenterAffine':
            transform['input_size'] = tuple(input_size)


def build_inference_pipeline(pipeline_cfg: Sequence[dict],
                             input_size: Optional[Tuple[int, int]] = None,
                             where: str = 'test pipeline') -> Compose:
    """The config's test (or TTA) pipeline fed by image paths or arrays (mmdet's
    ``InferencerLoader``), without dataset-only meta keys, ``input_size`` ``(w, h)`` forced onto
    every ``CenterAffine``; ``where`` names the pipeline in errors."""
    pipeline_cfg = copy.deepcopy(list(pipeline_cfg))
    loader_index = next((index for index, transform in enumerate(pipeline_cfg)
                         if transform.get('type') in LOADER_TYPES), None)
    if loader_index is None:
        raise ValueError(f'the {where} has no LoadImageFromFile: {pipeline_cfg}')
    pipeline_cfg[loader_index] = dict(pipeline_cfg[loader_index], type='mmdet.InferencerLoader')
    _adapt_transforms(pipeline_cfg, input_size)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return Compose(pipeline_cfg)


def image_files(folder: str) -> List[str]:
    """The image files of ``folder`` sorted by name, extensions matched case-insensitively
    (mmdet's listing skips ``.JPG``); FileNotFoundError when there are none."""
    files = sorted(osp.join(folder, name)
                   for name in scandir(folder, IMG_EXTENSIONS, case_sensitive=False))
    if not files:
        raise FileNotFoundError(f'folder {folder} holds no image file ({IMG_EXTENSIONS})')
    return files


def image_ids(inputs: Sequence[ImageInput]) -> List[int]:
    """The file stems when all are unique numbers (``000123.jpg`` -> 123), else 1, 2, ..."""
    stems = [osp.splitext(osp.basename(x))[0] if isinstance(x, str) else '' for x in inputs]
    if stems and all(stem.isdigit() for stem in stems) and len(set(map(int, stems))) == len(stems):
        return [int(stem) for stem in stems]
    return list(range(1, len(inputs) + 1))


def image_name(img_path: Optional[str], img_id: int) -> str:
    """File name of one image's outputs (``NNNNNNNN.jpg`` for arrays)."""
    return osp.basename(img_path) if img_path else f'{img_id:08d}.jpg'


class DeepMarkInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` with what it lacks for DeepMark: landmark predictions, the
    checkpoint fit rule and landmark metainfo (the checkpoint's, else the config's test
    dataset's), unreadable files skipped by name, folders listed case-insensitively, test-time
    augmentation, official result files and landmark drawings.

    Args:
        model (str | Config): Config path, config name (``'deepmark_dla34_512'``) or a config.
        weights (str, optional): Checkpoint; None keeps the random initialisation (warned).
        device (str, optional): Torch device; the available one when None.
        show_progress (bool): Progress bar. Defaults to True.
        cfg_options (dict, optional): Config overrides (``Config.merge_from_dict``).
    """
    visualize_kwargs = DetInferencer.visualize_kwargs | {'max_draw_size'}

    def __init__(self, model: Union[str, Config], weights: Optional[str] = None,
                 device: Optional[str] = None, show_progress: bool = True,
                 cfg_options: Optional[dict] = None) -> None:
        self._weights_path = weights
        self._tta: Optional[Tuple[nn.Module, Compose]] = None
        self._run: Dict = {}  # the state of one __call__ (model, pipeline, threshold, files)
        super().__init__(model=load_deepmark_config(model, cfg_options), weights=weights,
                         device=device, scope='mmdet', palette='none', show_progress=show_progress)

    def _load_weights_to_model(self, model: nn.Module, checkpoint: Optional[dict],
                               cfg: Optional[Config]) -> None:
        """Load the checkpoint (:func:`~deepmark_mm.utils.load_model_checkpoint`) or initialise,
        and attach the landmark metainfo, checked against the head."""
        dataset_meta = (checkpoint or {}).get('meta', {}).get('dataset_meta') or None
        source = f'checkpoint {self._weights_path}'
        if dataset_meta is None and cfg is not None:
            dataset_meta = config_dataset_metainfo(cfg)
            source = 'the config\'s test dataset metainfo'
        target = model.module if isinstance(model, BaseTTAModel) else model
        keypoint_meta = head_keypoint_metainfo(getattr(target, 'bbox_head', None), dataset_meta,
                                               source)
        if checkpoint is not None:
            load_model_checkpoint(target, checkpoint, self._weights_path,
                                  getattr(cfg, 'filename', None) or 'the config',
                                  load_partial=bool((cfg or {}).get('load_partial', False)))
        else:
            warnings.warn('DeepMarkInferencer: weights=None, the model keeps its random '
                          'initialisation; its predictions are meaningless')
            model.init_weights()
        model.dataset_meta = keypoint_meta

    def _init_pipeline(self, cfg: Config) -> Compose:
        return build_inference_pipeline(config_test_pipeline(cfg))

    def _init_visualizer(self, cfg: Config) -> Optional[Visualizer]:
        """The config's visualiser, upgraded to ``DeepMarkVisualizer`` when it is mmdet's."""
        vis_cfg = copy.deepcopy(cfg.get('visualizer', None) or ConfigDict())
        if vis_cfg.get('type', None) in PLAIN_DETECTION_VISUALIZERS:
            vis_cfg['type'] = 'DeepMarkVisualizer'
        vis_cfg.pop('vis_backends', None)  # drawings go to out_dir, not to backends
        return super()._init_visualizer(ConfigDict(visualizer=vis_cfg))

    def _tta_components(self) -> Tuple[nn.Module, Compose]:
        """The TTA model and pipeline (built once, :func:`resolve_tta_config`)."""
        if self._tta is None:
            tta_model_cfg, pipeline_cfg = resolve_tta_config(self.cfg)
            tta_model = MODELS.build(dict(**tta_model_cfg, module=self.model))
            tta_model.eval()
            self._tta = (tta_model, build_inference_pipeline(pipeline_cfg, where='tta_pipeline'))
        return self._tta

    def __call__(self, inputs: Union[ImageInput, Sequence[ImageInput]], batch_size: int = 1,
                 out_dir: str = '', tta: bool = False, score_thr: float = 0.3,
                 kpt_score_thr: Optional[float] = None, show: bool = False, wait_time: float = 0,
                 return_vis: bool = False, no_save_vis: bool = False, no_save_pred: bool = False,
                 return_datasamples: bool = False, print_result: bool = False,
                 max_draw_size: Optional[int] = None) -> Dict:
        """Predict, draw and write.

        Args:
            inputs: An image path, a folder (its images, sorted), a BGR ``(H, W, 3)`` uint8 array
                or a list of paths / arrays.
            out_dir (str): When set: ``vis/<image name>`` (drawings), ``preds/<image stem>.json``
                (readable JSON) and ``results.{bbox,keypoints}.json`` (official format) in it.
            tta (bool): Test-time augmentation as ``tools/test.py --tta``.
            score_thr (float): Keep detections with ``score >= score_thr``.
            kpt_score_thr (float, optional): Score of a confidently drawn landmark.
            max_draw_size (int, optional): Draw larger images downscaled to this longer side.
            batch_size, show, wait_time, return_vis, no_save_vis, no_save_pred,
                return_datasamples, print_result: as mmdet's.

        Returns:
            dict: ``predictions`` (:mod:`deepmark_mm.apis.prediction_format` dicts),
            ``visualization`` (RGB drawings when ``return_vis``), ``files`` (written paths:
            ``vis``, ``preds``, ``bbox``, ``keypoints``) and ``skipped`` (``(path, reason)`` of
            the unreadable input files, warned about).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if kpt_score_thr is not None:
            self.visualizer.kpt_score_thr = kpt_score_thr
        model, pipeline = self._tta_components() if tta else (self.model, self.pipeline)
        metric = None
        if out_dir and not no_save_pred:  # official result files, written after the last image
            metric = DeepFashion2Metric(format_only=True,
                                        outfile_prefix=osp.join(out_dir, 'results'))
            metric.dataset_meta = self.model.dataset_meta
            os.makedirs(osp.join(out_dir, 'preds'), exist_ok=True)
        self._run = dict(model=model, pipeline=pipeline, score_thr=score_thr, metric=metric,
                         skipped=[], preds=[], vis=[])
        result = super().__call__(
            inputs, batch_size, return_vis=return_vis, show=show, wait_time=wait_time,
            no_save_vis=no_save_vis, return_datasamples=return_datasamples,
            print_result=print_result, no_save_pred=no_save_pred, out_dir=out_dir,
            max_draw_size=max_draw_size)
        run, files = self._run, {}
        if metric is not None:
            metric.compute_metrics(metric.results)
            prefix = osp.join(out_dir, 'results')
            files = dict(preds=run['preds'], bbox=f'{prefix}.bbox.json',
                         keypoints=f'{prefix}.keypoints.json')
        if run['vis']:
            files['vis'] = run['vis']
        if run['skipped']:
            warnings.warn(f'DeepMarkInferencer: {len(run["skipped"])} of {run["num_inputs"]} '
                          'input(s) could not be read and were skipped: '
                          f'{[path for path, _ in run["skipped"]][:5]}')
        return dict(result, files=files, skipped=run['skipped'])

    def _inputs_to_list(self, inputs: Union[ImageInput, Sequence[ImageInput]]
                        ) -> List[ImageInput]:
        """mmdet's listing, each input checked; a folder's images by :func:`image_files`."""
        if isinstance(inputs, (str, os.PathLike)) and osp.isdir(inputs):
            inputs = image_files(os.fspath(inputs))
        inputs = super()._inputs_to_list(os.fspath(inputs) if isinstance(inputs, os.PathLike)
                                         else inputs)
        for index, item in enumerate(inputs):
            if isinstance(item, (str, os.PathLike)) and not osp.isfile(item):
                raise FileNotFoundError(f'input {index}: image file {os.fspath(item)} not found')
            if isinstance(item, np.ndarray) and (item.ndim != 3 or item.shape[2] != 3
                                                 or min(item.shape[:2]) < 1):
                raise ValueError(f'input {index}: image array has shape {item.shape}, expected '
                                 '(H, W, 3) BGR')
            if not isinstance(item, (str, os.PathLike, np.ndarray)):
                raise ValueError(f'input {index} is a {type(item).__name__}, expected an image '
                                 'path or an (H, W, 3) array')
        return [os.fspath(item) if isinstance(item, os.PathLike) else item for item in inputs]

    def preprocess(self, inputs: List[ImageInput], batch_size: int = 1,
                   **kwargs) -> Iterator[Tuple[List[ImageInput], dict]]:
        """Batches of ``(images, collated pipeline outputs)`` with ``img_id`` (:func:`image_ids`);
        unreadable files are warned about and skipped (mmdet stops at the first)."""
        self._run['num_inputs'] = len(inputs)
        ids = image_ids(inputs)
        for start in range(0, len(inputs), batch_size):
            images, packed = [], []
            for item, img_id in zip(inputs[start:start + batch_size], ids[start:]):
                try:
                    data = self._run['pipeline'](item)
                except Exception as error:  # mmcv: AssertionError('failed to load image'), IO
                    if not isinstance(item, str):
                        raise
                    reason = f'{type(error).__name__}: {error}'
                    warnings.warn(f'DeepMarkInferencer: skipping {item}, it cannot be read '
                                  f'({reason})')
                    self._run['skipped'].append((item, reason))
                    continue
                views = data['data_samples']  # a list of views from a TTA pipeline
                for sample in views if isinstance(views, list) else [views]:
                    sample.set_metainfo(dict(img_id=img_id))
                images.append(item)
                packed.append(data)
            if packed:
                yield images, self.collate_fn(packed)

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> List[DetDataSample]:
        """``test_step``, then the kept detections (:func:`select_detections`), also as the
        batch's prediction dicts."""
        samples = self._run['model'].test_step(inputs)
        for sample in samples:
            where = sample.metainfo.get('img_path') or f'image {sample.metainfo["img_id"]}'
            sample.pred_instances = select_detections(
                sample.pred_instances, self._run['score_thr'], self.model.dataset_meta, where)
        self._run['batch'] = [sample_to_prediction(sample, self.model.dataset_meta['classes'])
                              for sample in samples]
        return samples

    def visualize(self, inputs: List[ImageInput], preds: List[DetDataSample],
                  return_vis: bool = False, show: bool = False, wait_time: float = 0,
                  no_save_vis: bool = False, img_out_dir: str = '',
                  max_draw_size: Optional[int] = None, **kwargs) -> Optional[List[np.ndarray]]:
        """Draw each image (:meth:`draw`) to ``img_out_dir/vis/<image name>`` and / or a window."""
        out_dir = '' if no_save_vis else img_out_dir
        if not (show or out_dir or return_vis):
            return None
        drawings = []
        for item, sample, prediction in zip(inputs, preds, self._run['batch']):
            out_file = osp.join(out_dir, 'vis', image_name(
                prediction['img_path'], prediction['img_id'])) if out_dir else None
            drawings.append(self.draw(item, prediction, sample.metainfo, out_file, show,
                                      wait_time, max_draw_size))
            if out_file:
                self._run['vis'].append(out_file)
        return drawings if return_vis else None

    def postprocess(self, preds: List[DetDataSample],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasamples: bool = False, print_result: bool = False,
                    no_save_pred: bool = False, pred_out_dir: str = '', **kwargs) -> Dict:
        """The batch's prediction dicts (or the samples), with ``pred_out_dir`` also written as
        readable JSON and to the official result files."""
        predictions = self._run['batch']
        for prediction in predictions:
            readable = prediction_to_readable(prediction, self.model.dataset_meta)
            if print_result:
                print(readable)
            if no_save_pred or not pred_out_dir:
                continue
            stem = osp.splitext(image_name(prediction['img_path'], prediction['img_id']))[0]
            path = osp.join(pred_out_dir, 'preds', stem + '.json')
            with open(path, 'w', encoding='utf-8') as file:
                json.dump(readable, file, indent=1)
            self._run['preds'].append(path)
            self._run['metric'].process({}, [dict(
                img_id=prediction['img_id'], ori_shape=prediction['ori_shape'],
                pred_instances=dict(bboxes=prediction['bboxes'], scores=prediction['scores'],
                                    labels=prediction['label_ids'],
                                    keypoints=prediction['keypoints']))])
        return dict(predictions=preds if return_datasamples else predictions,
                    visualization=visualization)

    def draw(self, item: ImageInput, prediction: Dict, metainfo: Optional[dict] = None,
             out_file: Optional[str] = None, show: bool = False, wait_time: float = 0,
             max_size: Optional[int] = None) -> np.ndarray:
        """Draw one prediction dict on its image (path or BGR array) and return the RGB drawing;
        an image longer than ``max_size`` is drawn downscaled to that side."""
        image = mmcv.imread(item, channel_order='rgb') if isinstance(item, str) else \
            np.ascontiguousarray(item[..., ::-1])
        height, width = image.shape[:2]
        if max_size and max(height, width) > max_size:
            scale = max_size / max(height, width)
            image = mmcv.imresize(image, (round(width * scale), round(height * scale)),
                                  interpolation='area')
            fx, fy = image.shape[1] / width, image.shape[0] / height
            prediction = dict(prediction, keypoints=np.asarray(prediction['keypoints']) * [fx, fy],
                              bboxes=np.asarray(prediction['bboxes']) * [fx, fy, fx, fy])
        sample = DetDataSample(metainfo=dict(metainfo or {}))
        sample.pred_instances = prediction_to_instances(prediction)
        if out_file:
            os.makedirs(osp.dirname(out_file) or '.', exist_ok=True)
        self.visualizer.add_datasample(
            osp.basename(out_file) if out_file else 'deepmark', image, sample, draw_gt=False,
            draw_pred=True, show=show, wait_time=wait_time, out_file=out_file,
            pred_score_thr=float('-inf'))
        return self.visualizer.get_image()
