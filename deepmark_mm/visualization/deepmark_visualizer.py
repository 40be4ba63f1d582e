# Copyright (c) deepmark_mm contributors. All rights reserved.
"""mmdet's detection visualiser plus each garment's own landmarks and skeleton."""
from types import SimpleNamespace
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_project, get_box_tensor
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import get_palette
from mmengine.structures import InstanceData
from mmengine.visualization.utils import tensor2ndarray
from mmpose.visualization import FastVisualizer

from deepmark_mm.datasets.deepfashion2_metainfo import (CLASSES, KEYPOINT_SLICES, PALETTE,
                                                        category_skeletons)
from deepmark_mm.models.utils.image_frame import project_points

Color = Tuple[int, int, int]


class GarmentKeypointStyle(NamedTuple):
    """One garment's own slots (S, 2), which to draw (S,), their colours (S, 3), skeleton links
    (L, 2) as indices into ``points`` and link colours (L, 3)."""
    points: np.ndarray
    drawn: np.ndarray
    point_colors: np.ndarray
    links: np.ndarray
    link_colors: np.ndarray


def garment_keypoint_style(keypoints: np.ndarray,
                           keypoint_slice: Sequence[int],
                           skeleton: Sequence[Sequence[int]],
                           color: Color,
                           low_color: Color,
                           visibility: Optional[np.ndarray] = None,
                           scores: Optional[np.ndarray] = None,
                           score_thr: float = 0.3,
                           draw_low: bool = True) -> GarmentKeypointStyle:
    """Colour one garment's landmarks (K, 2) by visibility (K,) or else by scores (K,).

    Ground truth: v = 2 in ``color``, v = 1 in ``low_color``, v = 0 not drawn. Prediction: score
    >= ``score_thr`` in ``color``, lower in ``low_color`` (drawn only with ``draw_low``). A link
    of ``skeleton`` (global slot ids) is drawn when both ends are, in ``color`` when both are
    confident.
    """
    start, end = int(keypoint_slice[0]), int(keypoint_slice[1])
    points = np.asarray(keypoints, dtype=np.float64)[start:end]
    if visibility is not None:
        own_visibility = np.asarray(visibility, dtype=np.float64)[start:end]
        drawn, confident = own_visibility > 0, own_visibility >= 2
    elif scores is not None:
        confident = np.asarray(scores, dtype=np.float64)[start:end] >= score_thr
        drawn = np.ones_like(confident) if draw_low else confident
    else:
        drawn = confident = np.ones(end - start, dtype=bool)
    drawn = drawn & np.isfinite(points).all(axis=1)
    palette = np.array([low_color, color], dtype=np.int64)
    links = np.asarray(skeleton, dtype=np.int64).reshape(-1, 2) - start
    if len(links) and (links.min() < 0 or links.max() >= end - start):
        raise ValueError(f'skeleton links {np.asarray(skeleton).tolist()} leave the category '
                         f'slots [{start}, {end})')
    links = links[drawn[links].all(axis=1)]
    return GarmentKeypointStyle(points, drawn, palette[confident.astype(np.int64)], links,
                                palette[confident[links].all(axis=1).astype(np.int64)])


@VISUALIZERS.register_module()
class DeepMarkVisualizer(DetLocalVisualizer):
    """mmdet's ``DetLocalVisualizer`` (boxes, names) plus each garment's own landmarks and
    skeleton (``keypoint_slices`` / ``skeletons`` of the dataset metainfo, DeepFashion2's by
    default), drawn by mmpose's ``FastVisualizer`` (:func:`garment_keypoint_style`).

    Ground truth in network-input pixels is mapped back by the inverse ``homography_matrix`` when
    the drawn image has the sample's ``ori_shape``; predictions are in the drawn image's pixels.

    Args:
        kpt_score_thr (float): Score of a confident predicted landmark. Defaults to 0.3.
        kpt_radius (int, optional): Landmark radius; ``max(3, round(max(h, w) / 150))`` when None.
        name, line_width, text_color, **kwargs: ``DetLocalVisualizer``'s.
    """
    #: Colour of occluded / low-score landmarks.
    low_color: Color = (160, 160, 160)
    #: Draw predicted landmarks under ``kpt_score_thr`` (in ``low_color``).
    draw_low_score_kpts = True

    def __init__(self,
                 name: str = 'visualizer',
                 line_width: Union[int, float] = 2,
                 text_color: Optional[Union[str, Color]] = (200, 200, 200),
                 kpt_score_thr: float = 0.3,
                 kpt_radius: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(name=name, line_width=line_width, text_color=text_color, **kwargs)
        self.kpt_score_thr = kpt_score_thr
        self.kpt_radius = kpt_radius

    def _keypoint_slices(self) -> Sequence[Sequence[int]]:
        return (self.dataset_meta or {}).get('keypoint_slices', None) or KEYPOINT_SLICES

    def _category_skeletons(self) -> Sequence[Sequence[Sequence[int]]]:
        """``dataset_meta['skeletons']``; DeepFashion2's for its slices, else no links."""
        skeletons = (self.dataset_meta or {}).get('skeletons', None)
        if skeletons is not None:
            return skeletons
        slices = [tuple(s) for s in self._keypoint_slices()]
        return category_skeletons() if slices == list(KEYPOINT_SLICES) else [[] for _ in slices]

    def _draw_instances(self, image: np.ndarray, instances: InstanceData,
                        classes: Optional[Sequence[str]],
                        palette: Optional[Sequence[tuple]]) -> np.ndarray:
        """Boxes and names (mmdet), then landmarks, on an (H, W, 3) RGB image."""
        drawn = super()._draw_instances(image, instances, classes, palette)
        if 'keypoints' not in instances or len(instances) == 0:
            return drawn
        drawn = np.ascontiguousarray(drawn).copy()
        self.draw_keypoints(drawn, instances, palette)
        self.set_image(drawn)
        return drawn

    def draw_keypoints(self,
                       image: np.ndarray,
                       instances: InstanceData,
                       palette: Optional[Sequence[tuple]] = None) -> np.ndarray:
        """Draw every garment's own landmarks and skeleton onto the RGB ``image`` in place;
        ``instances``: ``labels`` (N,), ``keypoints`` (N, K, 2) and ``keypoints_visible`` (N, K)
        (ground truth) or ``keypoint_scores`` (N, K) (predictions)."""
        labels = np.asarray(tensor2ndarray(instances.labels), np.int64).reshape(-1)
        if len(labels) == 0:
            return image
        keypoints = np.asarray(tensor2ndarray(instances.keypoints), np.float64)
        slices = self._keypoint_slices()
        if keypoints.shape != (len(labels), slices[-1][1], 2):
            raise ValueError(f'DeepMarkVisualizer: keypoints of shape {keypoints.shape} for '
                             f'{len(labels)} instances, expected ({len(labels)}, '
                             f'{slices[-1][1]}, 2)')
        if labels.min() < 0 or labels.max() >= len(slices):
            raise ValueError(f'DeepMarkVisualizer: labels {np.unique(labels).tolist()} outside '
                             f'0..{len(slices) - 1}')
        visibility = scores = None
        if 'keypoints_visible' in instances:
            visibility = np.asarray(tensor2ndarray(instances.keypoints_visible), np.float64)
        elif 'keypoint_scores' in instances:
            scores = np.asarray(tensor2ndarray(instances.keypoint_scores), np.float64)
        color_source = self.bbox_color if self.bbox_color is not None else palette
        colors = get_palette(color_source if color_source is not None else list(PALETTE),
                             len(slices))
        skeletons = self._category_skeletons()
        radius = self.kpt_radius
        if radius is None:
            radius = max(3, int(round(max(image.shape[:2]) / 150)))
        width = max(1, radius // 2)
        for index, label in enumerate(labels.tolist()):
            style = garment_keypoint_style(
                keypoints[index], slices[label], skeletons[label],
                color=tuple(int(c) for c in colors[label]), low_color=self.low_color,
                visibility=None if visibility is None else visibility[index],
                scores=None if scores is None else scores[index],
                score_thr=self.kpt_score_thr, draw_low=self.draw_low_score_kpts)
            painter = FastVisualizer(
                dict(keypoint_colors=style.point_colors, skeleton_links=style.links.tolist(),
                     skeleton_link_colors=style.link_colors),
                radius=int(radius), line_width=int(width), kpt_thr=0.5)
            # FastVisualizer truncates coordinates to int: shift by half a pixel to round.
            painter.draw_pose(image, SimpleNamespace(
                keypoints=np.floor(style.points + 0.5)[None],
                keypoint_scores=style.drawn.astype(np.float64)[None]))
        return image

    def add_datasample(self, name: str, image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None, draw_gt: bool = True,
                       **kwargs) -> None:
        """mmdet's ``add_datasample`` with landmarks, ground truth first mapped onto ``image``;
        DeepFashion2's classes and palette without dataset metainfo."""
        meta = dict(self.dataset_meta or {})
        meta.setdefault('classes', CLASSES)
        meta.setdefault('palette', list(PALETTE))
        self.dataset_meta = meta
        if data_sample is not None and draw_gt and 'gt_instances' in data_sample:
            data_sample = self._gt_in_image_frame(data_sample, image.shape[:2])
        super().add_datasample(name, image, data_sample=data_sample, draw_gt=draw_gt, **kwargs)

    @staticmethod
    def _gt_in_image_frame(data_sample: DetDataSample, image_shape: Sequence[int]) -> DetDataSample:
        """A copy whose ``gt_instances`` are mapped onto an image of the original size."""
        gt = data_sample.gt_instances
        homography = data_sample.metainfo.get('homography_matrix', None)
        ori_shape = data_sample.metainfo.get('ori_shape', None)
        if 'bboxes' not in gt:
            return data_sample
        mapped = gt.clone()
        mapped.bboxes = torch.as_tensor(get_box_tensor(gt.bboxes)).detach().cpu().float().reshape(
            -1, 4)
        if homography is not None and ori_shape is not None \
                and tuple(image_shape[:2]) == tuple(ori_shape[:2]):
            inverse = torch.linalg.inv(torch.as_tensor(np.asarray(homography, np.float64))).float()
            mapped.bboxes = bbox_project(mapped.bboxes, inverse)
            if 'keypoints' in gt:
                keypoints = torch.as_tensor(np.asarray(tensor2ndarray(gt.keypoints), np.float32))
                mapped.keypoints = project_points(keypoints, inverse)
        sample = data_sample.clone()
        sample.gt_instances = mapped
        return sample
