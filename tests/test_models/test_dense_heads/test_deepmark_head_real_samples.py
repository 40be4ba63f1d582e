# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Targets -> perfect outputs -> decoding on the real DeepFashion2 samples of ../shared."""
import json
from pathlib import Path

import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import NUM_KEYPOINTS
from deepmark_mm.models.dense_heads import DeepMarkHead

SAMPLES = Path(__file__).resolve().parents[3] / '..' / 'shared' / 'deepfashion2-samples'
ANNOTATIONS = SAMPLES / 'kgdet_demo_dataset' / 'demo_dataset-32.json'
INPUT = 256  # longer side resized to 256, stride-4 feature 64x64
FEAT = INPUT // 4


def _load_scaled_ground_truth():
    if not ANNOTATIONS.is_file():
        pytest.skip(f'{ANNOTATIONS} not available')
    coco = json.loads(ANNOTATIONS.read_text())
    by_image = {image['id']: [] for image in coco['images']}
    for ann in coco['annotations']:
        by_image[ann['image_id']].append(ann)
    gts = []
    for image in coco['images']:
        scale = INPUT / max(image['height'], image['width'])
        anns = by_image[image['id']]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)],
                             dtype=torch.float32)
        kpts = torch.tensor([a['keypoints'] for a in anns], dtype=torch.float32)
        kpts = kpts.view(len(anns), NUM_KEYPOINTS, 3)
        gt = InstanceData()
        gt.bboxes = HorizontalBoxes(boxes * scale)
        gt.labels = torch.tensor([a['category_id'] - 1 for a in anns])
        gt.keypoints = kpts[..., :2] * scale
        gt.keypoints_visible = kpts[..., 2]
        gts.append(gt)
    return gts


def test_real_samples_round_trip():
    gts = _load_scaled_ground_truth()
    head = DeepMarkHead(in_channels=4, feat_channels=4)
    metas = [dict(batch_input_shape=(INPUT, INPUT))]
    exact = shared = skipped_garments = 0
    for gt in gts:  # one image at a time keeps the 294-channel maps small
        targets = head.get_targets([gt], metas, (1, 13, FEAT, FEAT))
        # every labelled own slot on the map is a target (DeepFashion2 only labels own slots)
        assert targets.num_kpt_targets == int((gt.keypoints_visible > 0).sum())

        def dense(channels, pixels, values):
            out = torch.zeros(1, channels, FEAT * FEAT)
            out[0, :, pixels] = values.T
            return out.view(1, channels, FEAT, FEAT)

        ids = targets.center_pixel_index
        outs = ([torch.logit(targets.center_heatmap, eps=1e-6)], [dense(2, ids, targets.wh)],
                [dense(2, ids, targets.offset)], [dense(2 * NUM_KEYPOINTS, ids, targets.kpt_reg)],
                [torch.logit(targets.kpt_heatmap, eps=1e-6)],
                [dense(2, targets.kpt_pixel_index, targets.kpt_offset)])
        result = head.predict_by_feat(*outs, batch_img_metas=metas)[0]

        # the landmark offset branch holds one value per cell: landmarks sharing a cell can only
        # be recovered to within that cell (4 input pixels)
        cells = (gt.keypoints * FEAT / INPUT).floor()
        cell_ids = cells[..., 1] * FEAT + cells[..., 0]
        labelled_cells = cell_ids[gt.keypoints_visible > 0]
        cell_counts = (labelled_cells.unsqueeze(0) == cell_ids.reshape(-1, 1)).sum(1)
        cell_shared = cell_counts.view(cell_ids.shape) > 1
        # garments sharing a centre cell share wh/offset/kpt_reg (a CenterNet limitation)
        centre_shared = (ids.unsqueeze(0) == ids.unsqueeze(1)).sum(1) > 1
        skipped_garments += int(centre_shared.sum())
        for index in torch.nonzero(~centre_shared).flatten().tolist():
            # boxes are clipped to the map's extent, [0, FEAT * 4] input pixels (CenterNet's clip
            # to the last feature pixel, (FEAT - 1) * 4, would cut those touching the border)
            box = gt.bboxes.tensor[index].clamp(0, FEAT * 4)
            boxes = result.bboxes.clone()
            boxes[result.labels != gt.labels[index]] = 1e6
            det = int((boxes - box).abs().amax(-1).argmin())
            torch.testing.assert_close(result.bboxes[det], box, atol=1e-2, rtol=0)
            labelled = gt.keypoints_visible[index] > 0
            error = (result.keypoints[det] - gt.keypoints[index]).norm(dim=-1)
            alone = labelled & ~cell_shared[index]
            assert torch.all(error[alone] < 0.05)
            assert torch.all(error[labelled & cell_shared[index]] < 4 * 2**0.5)
            exact += int(alone.sum())
            shared += int((labelled & cell_shared[index]).sum())
    assert skipped_garments <= 2 and exact > 800 and shared < 0.1 * exact
