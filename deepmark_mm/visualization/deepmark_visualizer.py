# Copyright (c) deepmark_mm contributors. All rights reserved.
"""mmdet's detection visualiser plus each garment's own landmarks and skeleton."""
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import get_palette
from mmengine.structures import InstanceData
from mmpose.visualization import FastVisualizer

from deepmark_mm.datasets.deepfashion2_metainfo import (CLASSES, KEYPOINT_SLICES,
                                                        PALETTE, category_skeletons)
from deepmark_mm.models.task_modules import project_bboxes, project_points
from .landmark_style import garment_landmark_style

Color = Tuple[int, int, int]


def _numpy(value, dtype=None) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


@VISUALIZERS.register_module()
class DeepMarkVisualizer(DetLocalVisualizer):
    """Draws garments: box, category name (+ score) and the category's own landmarks + skeleton.

    Boxes and names are :class:`~mmdet.visualization.DetLocalVisualizer`'s; landmarks and skeleton
    links are drawn over them with mmpose's :class:`~mmpose.visualization.FastVisualizer`, one
    garment at a time, only on the garment's own slots (``keypoint_slices`` of the dataset
    metainfo) and with its category's links (``skeletons``; DeepFashion2's by default). Colours
    (RGB, the image is RGB): the garment's palette colour for visible (ground truth v = 2) or
    confident (prediction ``keypoint_scores >= kpt_score_thr``) landmarks, ``low_color`` for
    occluded (v = 1) or low-score ones; unlabelled ground truth slots (v = 0) are not drawn.

    Ground truth packed by the test pipeline lives in network-input pixels
    (``docs/architecture.md``); when the image drawn has the sample's ``ori_shape`` (what
    :class:`~mmdet.engine.hooks.DetVisualizationHook` passes), ground truth is mapped back with the
    inverse ``homography_matrix``. Predictions are expected in the drawn image's pixels
    (``rescale=True``, the default of ``test_step``).

    Args:
        name (str): Instance name.
        image (np.ndarray, optional): RGB image to start with.
        vis_backends (list[dict], optional): Visual backends.
        save_dir (str, optional): Where backends save.
        bbox_color (str | tuple, optional): Box (and landmark) colour; the dataset palette when
            None.
        text_color (str | tuple): Colour of the category names.
        mask_color (str | tuple, optional): Unused (no masks), kept for mmdet's signature.
        line_width (int | float): Box line width.
        alpha (float): Box opacity.
        kpt_score_thr (float): Score of a confident predicted landmark. Defaults to 0.3.
        kpt_radius (int, optional): Landmark radius in pixels; ``max(3, round(max(h, w) / 150))``
            when None.
        link_width (int, optional): Skeleton line width; ``max(1, radius // 2)`` when None.
        low_color (tuple[int, int, int]): Colour of occluded / low-score landmarks.
        draw_low_score_kpts (bool): Draw predicted landmarks under ``kpt_score_thr`` (in
            ``low_color``). Defaults to True.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[Dict]] = None,
                 save_dir: Optional[str] = None,
                 bbox_color: Optional[Union[str, Color]] = None,
                 text_color: Optional[Union[str, Color]] = (200, 200, 200),
                 mask_color: Optional[Union[str, Color]] = None,
                 line_width: Union[int, float] = 2,
                 alpha: float = 0.8,
                 kpt_score_thr: float = 0.3,
                 kpt_radius: Optional[int] = None,
                 link_width: Optional[int] = None,
                 low_color: Color = (160, 160, 160),
                 draw_low_score_kpts: bool = True) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            bbox_color=bbox_color,
            text_color=text_color,
            mask_color=mask_color,
            line_width=line_width,
            alpha=alpha)
        self.kpt_score_thr = kpt_score_thr
        self.kpt_radius = kpt_radius
        self.link_width = link_width
        self.low_color = tuple(int(c) for c in low_color)
        self.draw_low_score_kpts = draw_low_score_kpts

    # ------------------------------------------------------------------ metainfo
    def _keypoint_slices(self) -> Sequence[Sequence[int]]:
        return (self.dataset_meta or {}).get('keypoint_slices', None) or KEYPOINT_SLICES

    def _category_skeletons(self) -> Sequence[Sequence[Sequence[int]]]:
        """``dataset_meta['skeletons']``; DeepFashion2's for its slices, else no links."""
        skeletons = (self.dataset_meta or {}).get('skeletons', None)
        if skeletons is not None:
            return skeletons
        slices = [tuple(s) for s in self._keypoint_slices()]
        return category_skeletons() if slices == list(KEYPOINT_SLICES) else [[] for _ in slices]

    def _landmark_sizes(self, image_shape: Sequence[int]) -> Tuple[int, int]:
        radius = self.kpt_radius
        if radius is None:
            radius = max(3, int(round(max(image_shape[:2]) / 150)))
        width = self.link_width if self.link_width is not None else max(1, radius // 2)
        return int(radius), int(width)

    # ------------------------------------------------------------------ drawing
    def _draw_instances(self, image: np.ndarray, instances: InstanceData,
                        classes: Optional[Sequence[str]],
                        palette: Optional[Sequence[tuple]]) -> np.ndarray:
        """Boxes and names (mmdet), then landmarks and skeletons.

        Args:
            image (np.ndarray): (H, W, 3) RGB image.
            instances (InstanceData): ``bboxes``, ``labels``, optional ``scores``, and
                ``keypoints`` (N, 294, 2) with ``keypoints_visible`` (ground truth, 0/1/2) or
                ``keypoint_scores`` (predictions).
            classes (Sequence[str], optional): Category names.
            palette (Sequence[tuple], optional): Category colours (RGB).

        Returns:
            np.ndarray: The drawn RGB image.
        """
        drawn = super()._draw_instances(image, instances, classes, palette)
        if 'keypoints' not in instances or len(instances) == 0:
            return drawn
        drawn = np.ascontiguousarray(drawn).copy()
        self.draw_landmarks(drawn, instances, palette)
        self.set_image(drawn)
        return drawn

    def draw_landmarks(self,
                       image: np.ndarray,
                       instances: InstanceData,
                       palette: Optional[Sequence[tuple]] = None) -> np.ndarray:
        """Draw every garment's own landmarks and skeleton onto ``image`` in place.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB image, modified.
            instances (InstanceData): See :meth:`_draw_instances`.
            palette (Sequence[tuple], optional): Category colours; the dataset's when None.

        Returns:
            np.ndarray: ``image``.
        """
        labels = _numpy(instances.labels, np.int64).reshape(-1)
        if len(labels) == 0:
            return image
        keypoints = _numpy(instances.keypoints, np.float64)
        slices = self._keypoint_slices()
        if keypoints.shape != (len(labels), slices[-1][1], 2):
            raise ValueError(f'DeepMarkVisualizer: keypoints of shape {keypoints.shape} for '
                             f'{len(labels)} instances, expected ({len(labels)}, '
                             f'{slices[-1][1]}, 2)')
        if labels.min() < 0 or labels.max() >= len(slices):
            raise ValueError(f'DeepMarkVisualizer: labels {np.unique(labels).tolist()} outside '
                             f'0..{len(slices) - 1}')
        visibility = _numpy(instances.keypoints_visible, np.float64) \
            if 'keypoints_visible' in instances else None
        scores = _numpy(instances.keypoint_scores, np.float64) \
            if visibility is None and 'keypoint_scores' in instances else None
        color_source = self.bbox_color if self.bbox_color is not None else palette
        colors = get_palette(
            color_source if color_source is not None else list(PALETTE),
            len(slices))
        skeletons = self._category_skeletons()
        radius, width = self._landmark_sizes(image.shape)
        for index, label in enumerate(labels.tolist()):
            style = garment_landmark_style(
                keypoints[index],
                slices[label],
                skeletons[label],
                color=tuple(int(c) for c in colors[label]),
                low_color=self.low_color,
                visibility=None if visibility is None else visibility[index],
                scores=None if scores is None else scores[index],
                score_thr=self.kpt_score_thr,
                draw_low=self.draw_low_score_kpts)
            painter = FastVisualizer(
                dict(
                    keypoint_colors=style.point_colors,
                    skeleton_links=style.links.tolist(),
                    skeleton_link_colors=style.link_colors),
                radius=radius,
                line_width=width,
                kpt_thr=0.5)
            # FastVisualizer truncates coordinates to int: shift by half a pixel to round.
            painter.draw_pose(
                image,
                SimpleNamespace(
                    keypoints=np.floor(style.points + 0.5)[None],
                    keypoint_scores=style.drawn.astype(np.float64)[None]))
        return image

    # ------------------------------------------------------------------ samples
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """mmdet's ``add_datasample`` (ground truth left, prediction right) with landmarks.

        Ground truth in network-input pixels is first mapped onto ``image`` when ``image`` has the
        sample's ``ori_shape`` (see the class docstring). Without dataset metainfo, DeepFashion2's
        classes and palette are used.

        Args:
            name (str): Image identifier.
            image (np.ndarray): (H, W, 3) RGB image.
            data_sample (DetDataSample, optional): ``gt_instances`` and/or ``pred_instances``.
            draw_gt (bool): Draw ground truth.
            draw_pred (bool): Draw predictions.
            show (bool): Show in a window.
            wait_time (float): Show time (s).
            out_file (str, optional): Save the drawing there instead of to the backends.
            pred_score_thr (float): Predictions with ``score > pred_score_thr`` are drawn.
            step (int): Global step for the backends.
        """
        meta = dict(self.dataset_meta or {})
        meta.setdefault('classes', CLASSES)
        meta.setdefault('palette', list(PALETTE))
        self.dataset_meta = meta
        if data_sample is not None and draw_gt and 'gt_instances' in data_sample:
            data_sample = self._gt_in_image_frame(data_sample, image.shape[:2])
        super().add_datasample(
            name,
            image,
            data_sample=data_sample,
            draw_gt=draw_gt,
            draw_pred=draw_pred,
            show=show,
            wait_time=wait_time,
            out_file=out_file,
            pred_score_thr=pred_score_thr,
            step=step)

    @staticmethod
    def _gt_in_image_frame(data_sample: DetDataSample, image_shape: Sequence[int]) -> DetDataSample:
        """A copy whose ``gt_instances`` are mapped onto an image of the original size."""
        gt = data_sample.gt_instances
        homography = data_sample.metainfo.get('homography_matrix', None)
        ori_shape = data_sample.metainfo.get('ori_shape', None)
        if 'bboxes' not in gt:
            return data_sample
        bboxes = get_box_tensor(gt.bboxes) if not isinstance(gt.bboxes, np.ndarray) else \
            torch.from_numpy(gt.bboxes)
        bboxes = bboxes.detach().cpu().float().reshape(-1, 4)
        mapped = gt.clone()
        mapped.bboxes = bboxes
        if homography is not None and ori_shape is not None \
                and tuple(image_shape[:2]) == tuple(ori_shape[:2]):
            inverse = torch.linalg.inv(torch.as_tensor(np.asarray(homography, np.float64)))
            mapped.bboxes = project_bboxes(bboxes, inverse.float())
            if 'keypoints' in gt:
                keypoints = torch.as_tensor(_numpy(gt.keypoints, np.float32))
                mapped.keypoints = project_points(keypoints, inverse.float())
        sample = data_sample.clone()
        sample.gt_instances = mapped
        return sample
