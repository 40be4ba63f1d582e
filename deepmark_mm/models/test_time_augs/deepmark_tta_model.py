# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMark test-time augmentation: flip fusion on the head outputs, multi-scale soft-NMS merge."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import InstanceList
from mmengine.model import BaseTTAModel
from mmengine.structures import InstanceData
from torch import Tensor

from deepmark_mm.datasets.deepfashion2_metainfo import NUM_CLASSES, NUM_KEYPOINTS
from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip_indices
from deepmark_mm.datasets.keypoint_metainfo import check_flip_indices, check_keypoint_slices
from deepmark_mm.ops import batched_nms
from .flip_fusion import fuse_flip_outputs

#: CenterNet's ``soft_nms_39(..., Nt=0.5, method=2)``: Gaussian decay exp(-IoU^2 / 0.5), pruned
#: below 0.001.
DEFAULT_SOFT_NMS = dict(
    type='soft_nms', iou_threshold=0.5, sigma=0.5, min_score=0.001, method='gaussian')

#: Boxes are widened to at least this many pixels for the IoU (a zero-area box has IoU 0 / 0).
MIN_NMS_BOX_SIZE = 1e-2


def merge_view_detections(view_instances: Sequence[InstanceData],
                          nms_cfg: Optional[dict] = DEFAULT_SOFT_NMS,
                          max_per_img: int = 100) -> InstanceData:
    """Concatenate one image's view detections, suppress per class (CenterNet ``merge_outputs``),
    keep the best ``max_per_img`` by descending score; every field travels with its box.

    ``nms_cfg``: :func:`deepmark_mm.ops.batched_nms` config (soft-NMS replaces ``scores`` by the
    decayed ones); None only sorts.
    """
    merged = InstanceData.cat(list(view_instances))  # asserts one or more views, equal fields
    if len(merged) == 0:
        return merged
    if nms_cfg is None:
        new_scores, keep = merged.scores.sort(descending=True, stable=True)
    else:
        boxes = merged.bboxes.float()
        size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=MIN_NMS_BOX_SIZE)
        boxes = torch.cat([boxes[:, :2], boxes[:, :2] + size], dim=1)
        dets, keep = batched_nms(boxes, merged.scores.float().contiguous(), merged.labels,
                                 nms_cfg)
        new_scores = dets[:, -1]
    result = merged[keep[:max_per_img]]
    result.scores = new_scores[:max_per_img].to(merged.scores.dtype)
    return result


@MODELS.register_module()
class DeepMarkTTAModel(BaseTTAModel):
    """Test-time augmentation of a DeepMark detector (the paper's Table 4 columns).

    Per view of the ``tta_pipeline`` (one per input scale) the network runs once, with ``flip``
    on ``[x, x.flip(3)]`` fused by :func:`fuse_flip_outputs`, and the codec decodes in
    original-image pixels; the views of each image are merged by per-class Gaussian soft-NMS
    (:data:`DEFAULT_SOFT_NMS`, :func:`merge_view_detections`), keeping the head's
    ``test_cfg.max_per_img``. Paper columns: "NMS" (``flip=False, nms=True``, one view), "flip"
    (one view), "flip + multiscale" (views at 1.0 and 0.75).

    Args:
        module (dict | nn.Module): The detector (mmdet ``CenterNet`` with a ``DeepMarkHead``).
        flip (bool): Fuse each view with its horizontal mirror. Defaults to True.
        nms (bool, optional): Merge by soft-NMS; None: only when an image has several views.
        flip_indices (Sequence[int], optional): (J,) slot each slot becomes under a horizontal
            flip (the landmark metainfo's); None: DeepFashion2's, only for a 13-class 294-slot
            head.
    """

    def __init__(self,
                 module: Union[dict, nn.Module],
                 flip: bool = True,
                 nms: Optional[bool] = None,
                 flip_indices: Optional[Sequence[int]] = None) -> None:
        super().__init__(module=module)
        missing = [
            name for name in ('extract_feat', 'bbox_head', 'data_preprocessor')
            if not hasattr(self.module, name)
        ]
        if missing or not hasattr(self.module.bbox_head, 'codec'):
            raise TypeError(f'DeepMarkTTAModel needs a detector with a DeepMarkHead, got '
                            f'{type(self.module).__name__} missing {missing or ["codec"]}')
        head = self.module.bbox_head
        self.flip = bool(flip)
        self.nms = nms
        self.nms_cfg = dict(DEFAULT_SOFT_NMS)
        self.max_per_img = int(head.codec.max_per_img)
        if flip_indices is None:
            if (head.num_classes, head.num_keypoints) != (NUM_CLASSES, NUM_KEYPOINTS):
                raise ValueError(
                    f'DeepMarkTTAModel: the head has {head.num_classes} classes and '
                    f'{head.num_keypoints} landmark slots, not DeepFashion2\'s {NUM_CLASSES} and '
                    f'{NUM_KEYPOINTS}; pass flip_indices (the landmark metainfo\'s)')
            flip_indices = deepfashion2_flip_indices()
        flip_indices = torch.from_numpy(
            check_flip_indices(flip_indices, head.num_keypoints, 'DeepMarkTTAModel'))
        check_keypoint_slices(head.keypoint_slices, head.num_keypoints,
                              "DeepMarkTTAModel (the head's slices)", flip_indices=flip_indices)
        self.register_buffer('flip_indices', flip_indices, persistent=False)

    def predict_view(self, batch_inputs: Tensor,
                     batch_data_samples: List[DetDataSample]) -> InstanceList:
        """Per image, the detections (original-image pixels) of one preprocessed (B, 3, H, W)
        view, flip-fused when ``flip``."""
        head = self.module.bbox_head
        network_inputs = torch.cat([batch_inputs, batch_inputs.flip(dims=[3])]) \
            if self.flip else batch_inputs
        maps = head.codec.prob_maps(head(self.module.extract_feat(network_inputs)))
        if self.flip:
            input_width, feat_width = batch_inputs.shape[3], maps[0].shape[3]
            if input_width % feat_width:
                raise ValueError(f'DeepMarkTTAModel: flip fusion needs the input width '
                                 f'({input_width}) to be a multiple of the feature width '
                                 f'({feat_width}); pad to the stride (pad_size_divisor)')
            maps = fuse_flip_outputs(*maps, self.flip_indices)
        metas = [sample.metainfo for sample in batch_data_samples]
        return head.codec.decode(maps, metas, rescale=True)

    def merge_preds(self, data_samples_list: List[List[DetDataSample]]) -> List[DetDataSample]:
        """Per image (outer list; inner: its views), the first view's sample with the merged
        ``pred_instances``."""
        merged = []
        for views in data_samples_list:
            instances = [view.pred_instances for view in views]
            apply_nms = self.nms if self.nms is not None else len(views) > 1
            if not apply_nms and len(views) == 1:
                views[0].pred_instances = instances[0][:self.max_per_img]
            else:
                views[0].pred_instances = merge_view_detections(
                    instances, self.nms_cfg if apply_nms else None, self.max_per_img)
            merged.append(views[0])
        return merged

    def test_step(self, data: Union[Dict, List, tuple]) -> List[DetDataSample]:
        """One merged sample per image of a ``TestTimeAug`` batch (``inputs`` and
        ``data_samples``, each a list over views of a list over images)."""
        views = self._split_views(data)
        per_view = []
        for view in views:
            processed = self.module.data_preprocessor(view, False)
            samples = processed['data_samples']
            results = self.predict_view(processed['inputs'], samples)
            per_view.append(self.module.add_pred_to_datasample(samples, results))
        return self.merge_preds([list(image_views) for image_views in zip(*per_view)])

    @staticmethod
    def _split_views(data: Union[Dict, List, tuple]) -> List[dict]:
        """``dict(inputs=[[view0 images], [view1 images]], ...)`` -> one batch dict per view."""
        inputs = data.get('inputs', []) if isinstance(data, dict) else []
        if len(inputs) == 0 or not isinstance(inputs[0], (list, tuple)):
            raise TypeError('DeepMarkTTAModel.test_step expects dict(inputs=[[view 0 images], '
                            '...], ...) from a TestTimeAug pipeline (cfg.tta_pipeline)')
        num_views = len(inputs)
        if any(len(value) != num_views for value in data.values()):
            raise ValueError(f'every entry of the batch needs {num_views} views, got '
                             f'{ {key: len(value) for key, value in data.items()} }')
        return [{key: value[index] for key, value in data.items()} for index in range(num_views)]
