# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Run an exported graph with onnxruntime (raw-map graphs decoded by the head's codec) and read
the landmark set stored in its ONNX ``metadata_props`` (DeepFashion2's when absent)."""
import copy
import json
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.structures import InstanceData

from deepmark_mm.apis import DeepMarkInferencer, build_inference_pipeline
from deepmark_mm.datasets.keypoint_metainfo import config_test_pipeline, resolve_keypoint_metainfo
from .onnx_export import (INPUT_NAME, KEYPOINT_METADATA_KEYS, OUTPUT_NAMES,
                          POSTPROCESS_OUTPUT_NAMES, decode_settings)


def create_session(onnx_file: str, device: str = 'cpu', num_threads: Optional[int] = None,
                   spinning: bool = True):
    """An onnxruntime ``InferenceSession`` (CUDA provider first for ``device='cuda'`` when
    available; ``num_threads`` intra-op threads; ``spinning=False``: idle threads sleep)."""
    import onnxruntime as ort
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX model {onnx_file} not found')
    options = ort.SessionOptions()
    if not spinning:
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if num_threads is not None:
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
    providers = ['CPUExecutionProvider']
    if str(device).startswith('cuda') and \
            'CUDAExecutionProvider' in ort.get_available_providers():
        providers.insert(0, 'CUDAExecutionProvider')
    return ort.InferenceSession(onnx_file, sess_options=options, providers=providers)


def compare_with_pytorch(module: Callable, onnx_file: str, inputs: torch.Tensor,
                         output_names: Sequence[str] = OUTPUT_NAMES) -> Dict[str, float]:
    """Output name -> max |onnxruntime - PyTorch| of ``module`` (what was exported) on ``inputs``
    (B, 3, H, W)."""
    session = create_session(onnx_file, num_threads=1)
    onnx_outputs = session.run(None, {INPUT_NAME: inputs.numpy().astype(np.float32)})
    with torch.no_grad():
        torch_outputs = module(inputs)
    return {
        name: float(np.abs(ours.astype(np.float64) - theirs.double().numpy()).max())
        for name, ours, theirs in zip(output_names, onnx_outputs, torch_outputs)
    }


def read_keypoint_metadata(metadata: Mapping[str, str], source: str) -> Dict:
    """The checked metainfo stored in a graph's ``custom_metadata_map`` (DeepFashion2's without
    it); ``source`` names the file in messages."""
    if not all(key in metadata for key in KEYPOINT_METADATA_KEYS):
        return resolve_keypoint_metainfo(None, source)
    stored = {key: json.loads(metadata[key]) for key in KEYPOINT_METADATA_KEYS}
    default = resolve_keypoint_metainfo(None)
    if tuple(stored['classes']) == default['classes'] and \
            [tuple(v) for v in stored['keypoint_slices']] == default['keypoint_slices']:
        default.update(stored)  # DeepFashion2's names, palette, ...
        stored = default
    return resolve_keypoint_metainfo(stored, source)


class OnnxDeepMarkModel(nn.Module):
    """A detector whose network is an onnxruntime session (``test_step`` only): the config's
    data preprocessor, the graph, then the head codec's ``decode(rescale=True)``; a
    ``postprocess`` graph's real rows (label >= 0) are only mapped to original pixels.

    Args:
        onnx_file (str): Graph from :func:`~deepmark_mm.deployment.export_onnx` (or int8).
        cfg (Config): The config it was exported from.
        device (str): ``'cpu'`` (or ``'cuda'`` with onnxruntime-gpu).
        num_threads (int, optional): onnxruntime intra-op threads.
    """

    def __init__(self, onnx_file: str, cfg: Config, device: str = 'cpu',
                 num_threads: Optional[int] = None) -> None:
        super().__init__()
        self.onnx_file = onnx_file
        self.session = create_session(onnx_file, device, num_threads)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = tuple(output.name for output in self.session.get_outputs())
        if inputs != [INPUT_NAME] or outputs not in (OUTPUT_NAMES, POSTPROCESS_OUTPUT_NAMES):
            raise ValueError(f'{onnx_file}: inputs {inputs} / outputs {list(outputs)}, expected '
                             f'[{INPUT_NAME!r}] / {list(OUTPUT_NAMES)} or '
                             f'{list(POSTPROCESS_OUTPUT_NAMES)}; export it with '
                             'tools/deployment/export_onnx.py')
        self.postprocess = outputs == POSTPROCESS_OUTPUT_NAMES
        height, width = self.session.get_inputs()[0].shape[2:]
        if not isinstance(height, int) or not isinstance(width, int):
            raise ValueError(f'{onnx_file}: input height/width must be fixed, got '
                             f'{self.session.get_inputs()[0].shape}')
        self.input_hw = (height, width)
        self.data_preprocessor = MODELS.build(copy.deepcopy(cfg.model.data_preprocessor))
        self.bbox_head = MODELS.build(copy.deepcopy(dict(
            cfg.model.bbox_head, train_cfg=cfg.model.get('train_cfg', None),
            test_cfg=cfg.model.get('test_cfg', None))))
        stored = self.session.get_modelmeta().custom_metadata_map.get('decode_settings')
        wanted = decode_settings(self.bbox_head.codec)
        if self.postprocess and stored is not None and stored != wanted:
            raise ValueError(f'{onnx_file} decodes with {stored}, the config '
                             f'{getattr(cfg, "filename", "")} asks for {wanted}; export the graph '
                             'with these test_cfg options (--cfg-options) or pass matching ones')
        self.eval()

    def test_step(self, data: dict) -> List[DetDataSample]:
        """Collated pipeline output -> samples with ``pred_instances`` (original pixels)."""
        data = self.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        if tuple(inputs.shape[2:]) != self.input_hw:
            names = [sample.metainfo.get('img_path') for sample in samples]
            raise ValueError(f'{self.onnx_file} takes {self.input_hw} inputs, the pipeline made '
                             f'{tuple(inputs.shape[2:])} for {names}')
        outputs = self.session.run(None, {INPUT_NAME: inputs.cpu().numpy().astype(np.float32)})
        outputs = [torch.from_numpy(np.ascontiguousarray(value)) for value in outputs]
        metas = [sample.metainfo for sample in samples]
        if not self.postprocess:
            results = self.bbox_head.codec.decode(outputs, metas, rescale=True)
        else:  # real rows (label >= 0), network-input -> original pixels
            bboxes, scores, labels, keypoints, keypoint_scores = outputs
            results = []
            for i, meta in enumerate(metas):
                real = labels[i] >= 0
                image_bboxes, image_keypoints = self.bbox_head.codec.to_original(
                    bboxes[i, real], keypoints[i, real], labels[i, real], meta)
                results.append(InstanceData(
                    bboxes=image_bboxes, scores=scores[i, real], labels=labels[i, real],
                    keypoints=image_keypoints, keypoint_scores=keypoint_scores[i, real]))
        for sample, instances in zip(samples, results):
            sample.pred_instances = instances
        return samples


class OnnxDeepMark(DeepMarkInferencer):
    """:class:`~deepmark_mm.apis.DeepMarkInferencer` on :class:`OnnxDeepMarkModel`, the test
    pipeline at the graph's input size; no test-time augmentation.

    Args:
        onnx_file (str): Graph from :func:`~deepmark_mm.deployment.export_onnx` (or int8).
        config (str | Config): The config it was exported from (path or name).
        device (str): ``'cpu'`` (or ``'cuda'`` with onnxruntime-gpu).
        num_threads (int, optional): onnxruntime intra-op threads.
        show_progress (bool): Progress bar for several images.
        cfg_options (dict, optional): Config overrides (e.g. ``model.test_cfg.topk``).
    """

    def __init__(self, onnx_file: str, config: Union[str, Config], device: str = 'cpu',
                 num_threads: Optional[int] = None, show_progress: bool = True,
                 cfg_options: Optional[dict] = None) -> None:
        self._num_threads = num_threads
        super().__init__(config, weights=onnx_file, device=device, show_progress=show_progress,
                         cfg_options=cfg_options)

    def _init_model(self, cfg: Config, weights: Optional[str], device: str = 'cpu') -> nn.Module:
        """The onnxruntime model (``weights``: the ONNX file) with its stored landmark set."""
        model = OnnxDeepMarkModel(weights, cfg, device, self._num_threads)
        model.cfg = cfg
        model.dataset_meta = read_keypoint_metadata(
            model.session.get_modelmeta().custom_metadata_map, weights)
        return model

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The test pipeline with ``CenterAffine`` producing the graph's input size."""
        height, width = self.model.input_hw
        return build_inference_pipeline(config_test_pipeline(cfg), input_size=(width, height))

    def _tta_components(self):
        raise NotImplementedError('OnnxDeepMark runs the exported single-pass network; '
                                  'test-time augmentation is not part of it')
