# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``DeepMarkInferencer``: images in; garments, categories and landmarks out (+ drawings, JSON)."""
import copy
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmdet.apis import DetInferencer
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.model import BaseTTAModel
from mmengine.visualization import Visualizer
from tqdm import tqdm

from deepmark_mm.datasets.landmark_metainfo import (config_dataset_metainfo, config_test_pipeline,
                                                    resolve_landmark_metainfo)
from deepmark_mm.engine.hooks import landmark_set_difference
from deepmark_mm.models.test_time_augs import resolve_tta_config
from deepmark_mm.utils import load_model_checkpoint
from .config_resolution import load_deepmark_config
from .inference_inputs import (ImageInput, assign_image_ids, build_inference_pipeline, image_name,
                               list_image_inputs)
from .prediction_format import (PredictionWriter, instances_to_prediction, prediction_to_instances,
                                prediction_to_readable)

#: Visualiser types replaced by :class:`~deepmark_mm.visualization.DeepMarkVisualizer`.
PLAIN_DETECTION_VISUALIZERS = (None, 'DetLocalVisualizer', 'mmdet.DetLocalVisualizer')


class DeepMarkInferencer(DetInferencer):
    """Run a DeepMark model on image files, folders or arrays.

    The config's test pipeline is used as configured (CenterNet's deterministic centre warp),
    fed by paths or BGR arrays; predictions come back in original image pixels. The model's
    ``dataset_meta`` is the landmark metainfo of the checkpoint (``meta['dataset_meta']``), else of
    the config's test dataset, else DeepFashion2's; predictions, result files and drawings use
    its classes, slot slices and skeletons. Drawings use
    :class:`~deepmark_mm.visualization.DeepMarkVisualizer` (the config's ``visualizer`` when it
    already is one, with its settings otherwise).

    Example:
        >>> inferencer = DeepMarkInferencer('configs/deepmark_dla34_512.py', weights=CKPT,
        ...                                 device='cpu')
        >>> result = inferencer('photos/', out_dir='outputs', score_thr=0.3)
        >>> first = result['predictions'][0]
        >>> first['labels'], first['bboxes'].shape, first['keypoints'].shape
        (['trousers'], (1, 4), (1, 294, 2))

    Args:
        model (str | Config): Config path, config name found under the package's configs
            (``'deepmark_dla34_512'``) or a loaded config.
        weights (str, optional): Checkpoint. None keeps the random initialisation (tests, smoke
            runs; a warning says so).
        device (str, optional): Torch device; the available one when None.
        scope (str): Registry scope. Defaults to ``'mmdet'``.
        show_progress (bool): tqdm progress bar for more than one image. Defaults to True.
        cfg_options (dict, optional): Config overrides (``Config.merge_from_dict``).
    """

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = 'mmdet',
                 show_progress: bool = True,
                 cfg_options: Optional[dict] = None) -> None:
        self._weights_path = weights
        self._tta: Optional[Tuple[nn.Module, Compose]] = None
        cfg = load_deepmark_config(model, cfg_options)
        super().__init__(
            model=cfg,
            weights=weights,
            device=device,
            scope=scope,
            palette='none',
            show_progress=show_progress)

    # ------------------------------------------------------------------ construction
    def _load_weights_to_model(self, model: nn.Module, checkpoint: Optional[dict],
                               cfg: Optional[Config]) -> None:
        """Load the checkpoint by the fit rule (or initialise), then attach the landmark metainfo.

        The checkpoint must fit the model (:func:`deepmark_mm.utils.load_model_checkpoint`)
        unless the config sets ``load_partial=True`` (``cfg_options=dict(load_partial=True)``).

        The metainfo is the checkpoint's ``meta['dataset_meta']`` (which MMEngine's runner saves),
        else the config's test dataset ``metainfo``, else DeepFashion2's; its classes and slot
        slices must match the head's.
        """
        dataset_meta = (checkpoint or {}).get('meta', {}).get('dataset_meta') or None
        source = f'checkpoint {self._weights_path}'
        if dataset_meta is None and cfg is not None:
            dataset_meta = config_dataset_metainfo(cfg)
            source = 'the config\'s test dataset metainfo'
        target = model.module if isinstance(model, BaseTTAModel) else model
        head = getattr(target, 'bbox_head', None)
        classes = tuple((dataset_meta or {}).get('classes') or ())
        if head is not None and classes and len(classes) != head.num_classes:
            raise ValueError(f'{source} was trained on classes {classes}, but the model\'s head '
                             f'has {head.num_classes}')
        landmark_meta = resolve_landmark_metainfo(dataset_meta, f'{source} dataset_meta')
        difference = head is not None and landmark_set_difference(head, landmark_meta)
        if difference:
            raise ValueError(f'{source}: its landmark set is not the model head\'s: {difference}')
        if checkpoint is not None:
            # a test-time augmentation config (*_flip.py) builds the detector inside the wrapper
            load_model_checkpoint(target, checkpoint, self._weights_path,
                                  getattr(cfg, 'filename', None) or 'the config',
                                  load_partial=bool((cfg or {}).get('load_partial', False)))
        else:
            warnings.warn('DeepMarkInferencer: weights=None, the model keeps its random '
                          'initialisation; its predictions are meaningless')
            model.init_weights()
        model.dataset_meta = landmark_meta

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The config's test pipeline reading paths or arrays."""
        return build_inference_pipeline(config_test_pipeline(cfg))

    def _init_visualizer(self, cfg: Config) -> Optional[Visualizer]:
        """The config's visualiser, upgraded to ``DeepMarkVisualizer`` when it is mmdet's."""
        vis_cfg = copy.deepcopy(cfg.get('visualizer', None) or ConfigDict())
        if vis_cfg.get('type', None) in PLAIN_DETECTION_VISUALIZERS:
            vis_cfg['type'] = 'DeepMarkVisualizer'
        vis_cfg.pop('vis_backends', None)  # drawings go to out_dir, not to backends
        return super()._init_visualizer(ConfigDict(visualizer=vis_cfg))

    def _init_collate(self, cfg: Config) -> Callable:
        """The test dataloader's ``collate_fn`` when it names one, else ``pseudo_collate``."""
        collate_cfg = cfg.get('test_dataloader', {}).get('collate_fn', None)
        if collate_cfg is None:
            return pseudo_collate
        return super()._init_collate(cfg)

    def _tta_components(self) -> Tuple[nn.Module, Compose]:
        """The model wrapped for test-time augmentation and its pipeline (built once).

        ``cfg.tta_model`` / ``cfg.tta_pipeline`` when the config has them; otherwise flip fusion
        over ``cfg.tta_scales`` (default: one view), see :func:`resolve_tta_config`.
        """
        if isinstance(self.model, BaseTTAModel):
            raise RuntimeError(f'{getattr(self.cfg, "filename", "the config")} is already a '
                               'test-time augmentation config; call with tta=False')
        if self._tta is None:
            tta_model_cfg, pipeline_cfg = resolve_tta_config(self.cfg)
            tta_model = MODELS.build(dict(**tta_model_cfg, module=self.model))
            tta_model.eval()
            pipeline = build_inference_pipeline(pipeline_cfg, where='tta_pipeline')
            self._tta = (tta_model, pipeline)
        return self._tta

    # ------------------------------------------------------------------ running
    def __call__(self,
                 inputs: Union[ImageInput, Sequence[ImageInput]],
                 batch_size: int = 1,
                 out_dir: str = '',
                 tta: bool = False,
                 score_thr: float = 0.3,
                 kpt_score_thr: Optional[float] = None,
                 show: bool = False,
                 wait_time: float = 0,
                 return_vis: bool = False,
                 no_save_vis: bool = False,
                 no_save_pred: bool = False,
                 return_datasamples: bool = False,
                 print_result: bool = False,
                 max_draw_size: Optional[int] = None) -> Dict:
        """Predict, draw and write.

        Args:
            inputs: An image path, a folder (its images, sorted), a BGR ``(H, W, 3)`` uint8 array
                or a list of paths / arrays.
            batch_size (int): Images per forward pass.
            out_dir (str): When set: ``out_dir/vis/<image name>`` (drawings),
                ``out_dir/preds/<image stem>.json`` (readable per-item JSON) and
                ``out_dir/results.{bbox,keypoints}.json`` (official result format).
            tta (bool): Test-time augmentation as ``tools/test.py --tta``: the config's
                ``tta_model`` over its ``tta_scales`` views (the paper's column configs,
                ``*_flip.py`` ...), flip fusion at one scale when it has none (see
                :meth:`_tta_components`).
            score_thr (float): Keep detections with ``score >= score_thr`` (returned, drawn and
                written).
            kpt_score_thr (float, optional): Score of a confidently drawn landmark; the
                visualiser's (0.3) when None.
            show (bool): Show drawings in a window.
            wait_time (float): Show time (s).
            return_vis (bool): Return the drawings (RGB arrays).
            no_save_vis (bool): Do not write drawings.
            no_save_pred (bool): Do not write JSON.
            return_datasamples (bool): Return ``DetDataSample`` objects (kept detections,
                ``img_id`` in the metainfo) instead of prediction dicts.
            print_result (bool): Print the readable format of each image.
            max_draw_size (int, optional): Draw an image larger than this (longer side, pixels)
                on a copy downscaled to it (see :meth:`draw`); full size when None or 0.

        Returns:
            dict: ``predictions``: per image a prediction dict
            (:mod:`deepmark_mm.apis.prediction_format`: ``img_id``, ``img_path``, ``ori_shape``,
            ``bboxes`` (N, 4), ``scores`` (N,), ``labels`` (category names), ``label_ids``,
            ``keypoints`` (N, 294, 2), ``keypoint_scores`` (N, 294)); ``visualization``: drawings
            when ``return_vis``, else empty; ``files``: written paths (``vis``, ``preds``,
            ``bbox``, ``keypoints``), empty without ``out_dir``; ``skipped``: ``(path, reason)``
            of the input files that could not be read (warned about and left out; the other
            images are processed and every result file is written).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        images = list_image_inputs(inputs)
        img_ids = assign_image_ids(images)
        model, pipeline = self._tta_components() if tta else (self.model, self.pipeline)
        if kpt_score_thr is not None and self.visualizer is not None:
            self.visualizer.kpt_score_thr = kpt_score_thr
        save_vis = bool(out_dir) and not no_save_vis
        writer = PredictionWriter(out_dir, self.model.dataset_meta) \
            if out_dir and not no_save_pred else None
        results: Dict = dict(predictions=[], visualization=[], files={}, skipped=[])
        vis_files: List[str] = []
        progress = tqdm(
            total=len(images),
            desc='DeepMark',
            unit='img',
            disable=not self.show_progress or len(images) < 2)
        for start in range(0, len(images), batch_size):
            indices = list(range(start, min(start + batch_size, len(images))))
            indices, inputs = self._prepare_inputs(pipeline, images, indices, results['skipped'])
            samples = self._predict_batch(model, inputs) if inputs else []
            for index, sample in zip(indices, samples):
                item = images[index]
                prediction = instances_to_prediction(sample.pred_instances, img_ids[index],
                                                     item if isinstance(item, str) else None,
                                                     sample.metainfo['ori_shape'], score_thr,
                                                     self.model.dataset_meta)
                name = image_name(item, img_ids[index])
                if save_vis or show or return_vis:
                    out_file = osp.join(out_dir, 'vis', name) if save_vis else None
                    drawing = self.draw(item, prediction, sample.metainfo, out_file, show,
                                        wait_time, max_draw_size)
                    if return_vis:
                        results['visualization'].append(drawing)
                    if out_file:
                        vis_files.append(out_file)
                if writer is not None:
                    writer.add(prediction, osp.splitext(name)[0])
                if print_result:
                    print(prediction_to_readable(prediction,
                                                 landmark_meta=self.model.dataset_meta))
                if return_datasamples:
                    kept = DetDataSample(metainfo=dict(sample.metainfo, img_id=img_ids[index]))
                    kept.pred_instances = prediction_to_instances(prediction)
                    results['predictions'].append(kept)
                else:
                    results['predictions'].append(prediction)
            progress.update(min(batch_size, len(images) - start))
        progress.close()
        if results['skipped']:
            warnings.warn(f'DeepMarkInferencer: {len(results["skipped"])} of {len(images)} '
                          'input(s) could not be read and were skipped: '
                          f'{[path for path, _ in results["skipped"]][:5]}')
        if writer is not None:
            results['files'] = dict(preds=list(writer.readable_files), **writer.close())
        if vis_files:
            results['files']['vis'] = vis_files
        return results

    @staticmethod
    def _prepare_inputs(pipeline: Compose, images: Sequence[ImageInput], indices: List[int],
                        skipped: List[Tuple[str, str]]) -> Tuple[List[int], List[dict]]:
        """Run the pipeline on ``images[indices]``; unreadable files are warned about, appended
        to ``skipped`` as ``(path, reason)`` and left out (arrays are never skipped)."""
        kept_indices, inputs = [], []
        for index in indices:
            item = images[index]
            try:
                inputs.append(pipeline(item))
            except Exception as error:  # mmcv: AssertionError('failed to load image'), IO errors
                if not isinstance(item, str):
                    raise
                reason = f'{type(error).__name__}: {error}'
                warnings.warn(f'DeepMarkInferencer: skipping {item}, it cannot be read ({reason})')
                skipped.append((item, reason))
                continue
            kept_indices.append(index)
        return kept_indices, inputs

    def _predict_batch(self, model: nn.Module, inputs: Sequence[dict]) -> List[DetDataSample]:
        """Collate and ``test_step`` for a few pipeline outputs."""
        data = self.collate_fn(list(inputs))
        with torch.no_grad():
            return model.test_step(data)

    def draw(self,
             item: ImageInput,
             prediction: Dict,
             metainfo: Optional[dict] = None,
             out_file: Optional[str] = None,
             show: bool = False,
             wait_time: float = 0,
             max_size: Optional[int] = None) -> np.ndarray:
        """Draw one prediction on its image.

        Drawing is slow and memory-hungry for large photos (mmdet's visualiser renders through
        matplotlib): with ``max_size``, an image whose longer side exceeds it is drawn on a copy
        downscaled to that side, boxes and landmarks scaled alike.

        Args:
            item (str | np.ndarray): The image path or BGR array.
            prediction (dict): Its prediction dict.
            metainfo (dict, optional): Sample metainfo to carry along.
            out_file (str, optional): Where to save the drawing.
            show (bool): Show it in a window.
            wait_time (float): Show time (s).
            max_size (int, optional): Longest side of the drawing; the image's when None or 0.

        Returns:
            np.ndarray: The RGB drawing.
        """
        if self.visualizer is None:
            raise ValueError('drawing needs a visualizer, but none was built')
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
            osp.basename(out_file) if out_file else 'deepmark',
            image,
            sample,
            draw_gt=False,
            draw_pred=True,
            show=show,
            wait_time=wait_time,
            out_file=out_file,
            pred_score_thr=float('-inf'))
        return self.visualizer.get_image()
