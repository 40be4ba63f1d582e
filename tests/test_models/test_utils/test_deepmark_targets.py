# Copyright (c) deepmark_mm contributors. All rights reserved.
import pytest
import torch

from mmengine.structures import InstanceData

from deepmark_mm.models.task_modules import DeepMarkCodec
from deepmark_mm.models.utils.centernet_gaussian import centernet_gaussian_radius
from deepmark_mm.models.utils.ground_truth_maps import encode_targets

# two toy categories owning slots [0, 4) and [4, 6)
MASK = 'two categories owning slots [0, 4) and [4, 6)'


def build_deepmark_targets(bboxes, labels, keypoints, visible, batch_ids, batch_size, feat_size,
                           input_size, category_keypoint_mask, regression_radius=0):
    """encode_targets of the garments of a flat batch."""
    codec = DeepMarkCodec(num_classes=2, num_keypoints=6, keypoint_slices=[(0, 4), (4, 6)],
                          regression_radius=regression_radius)
    gts = []
    for batch_id in range(batch_size):
        rows = batch_ids == batch_id
        gts.append(InstanceData(bboxes=bboxes[rows], labels=labels[rows],
                                keypoints=keypoints[rows], keypoints_visible=visible[rows]))
    metas = [dict(batch_input_shape=input_size)] * batch_size
    return encode_targets(codec, gts, metas, (batch_size, 2) + tuple(feat_size))


def _toy_batch():
    bboxes = torch.tensor([[9., 13., 43., 39.], [-20., 50., 30., 100.], [70., 70., 90., 90.]])
    labels = torch.tensor([0, 1, 0])
    keypoints = torch.zeros(3, 6, 2)
    visible = torch.zeros(3, 6)
    keypoints[0, 0] = torch.tensor([12., 20.])  # -> feature (3, 5)
    visible[0, 0] = 2
    keypoints[0, 1] = torch.tensor([20., 20.])  # unlabelled
    keypoints[0, 2] = torch.tensor([100., 20.])  # off the 16x16 map
    visible[0, 2] = 2
    keypoints[0, 3] = torch.tensor([30.6, 34.2])  # -> feature (7.65, 8.55), occluded
    visible[0, 3] = 1
    keypoints[0, 4] = torch.tensor([16., 16.])  # a category-1 slot: never for a category-0 item
    visible[0, 4] = 2
    keypoints[1, 5] = torch.tensor([8., 56.])  # -> feature (2, 14)
    visible[1, 5] = 2
    keypoints[2, 0] = torch.tensor([75., 75.])  # on a dropped (empty after clipping) garment
    visible[2, 0] = 2
    batch_ids = torch.tensor([0, 1, 1])
    return bboxes, labels, keypoints, visible, batch_ids


def test_targets_values():
    targets = build_deepmark_targets(*_toy_batch(), batch_size=2, feat_size=(16, 16),
                                     input_size=(64, 64), category_keypoint_mask=MASK)
    assert targets.center_heatmap.shape == (2, 2, 16, 16)
    assert targets.kpt_heatmap.shape == (2, 6, 16, 16)
    # garment 0: feature box [2.25, 3.25, 10.75, 9.75]; garment 1 clipped to the map's extent
    # [0, 16] (continuous coordinates, not CenterNet's W - 1): [0, 12.5, 7.5, 16]
    assert targets.num_objects == 2
    assert targets.center_batch_ids.tolist() == [0, 1]
    assert targets.center_pixel_index.tolist() == [6 * 16 + 6, 14 * 16 + 3]
    torch.testing.assert_close(targets.wh, torch.tensor([[8.5, 6.5], [7.5, 3.5]]))
    torch.testing.assert_close(targets.offset, torch.tensor([[0.5, 0.5], [0.75, 0.25]]))
    assert targets.center_heatmap[0, 0, 6, 6] == 1 and targets.center_heatmap[1, 1, 14, 3] == 1
    assert targets.center_heatmap[0, 1].sum() == 0 and targets.center_heatmap[1, 0].sum() == 0
    # Gaussian extent follows CenterNet's radius of ceil(h), ceil(w)
    radius = int(centernet_gaussian_radius(torch.tensor(7.), torch.tensor(9.)))
    row = targets.center_heatmap[0, 0, 6]
    assert int((row > 0).sum()) == 2 * radius + 1

    weight = targets.kpt_reg_weight.view(2, 6, 2)
    assert weight[0, :, 0].tolist() == [1, 0, 0, 1, 0, 0]  # own, labelled, on the map
    assert weight[1, :, 0].tolist() == [0, 0, 0, 0, 0, 1]
    reg = targets.kpt_reg.view(2, 6, 2)
    torch.testing.assert_close(reg[0, 0], torch.tensor([-3., -1.]))
    torch.testing.assert_close(reg[0, 3], torch.tensor([1.65, 2.55]))
    torch.testing.assert_close(reg[1, 5], torch.tensor([-1., 0.]))
    assert reg[weight == 0].abs().sum() == 0

    assert targets.num_kpt_targets == 3
    assert targets.kpt_batch_ids.tolist() == [0, 0, 1]
    assert targets.kpt_pixel_index.tolist() == [5 * 16 + 3, 8 * 16 + 7, 14 * 16 + 2]
    torch.testing.assert_close(targets.kpt_offset,
                               torch.tensor([[0., 0.], [0.65, 0.55], [0., 0.]]))
    assert targets.kpt_heatmap[0, 0, 5, 3] == 1 and targets.kpt_heatmap[0, 3, 8, 7] == 1
    assert targets.kpt_heatmap[1, 5, 14, 2] == 1
    for slot in (1, 2, 4):  # unlabelled, off-map, other category's slot
        assert targets.kpt_heatmap[:, slot].sum() == 0
    assert targets.kpt_heatmap[1, :5].sum() == 0  # the dropped garment drew nothing


def test_targets_empty():
    no_ids = torch.zeros(0, dtype=torch.long)
    targets = build_deepmark_targets(
        torch.zeros(0, 4), no_ids, torch.zeros(0, 6, 2), torch.zeros(0, 6), no_ids, batch_size=2,
        feat_size=(8, 8), input_size=(32, 32), category_keypoint_mask=MASK)
    assert targets.num_objects == 0 and targets.num_kpt_targets == 0
    assert targets.center_heatmap.abs().sum() == 0 and targets.kpt_heatmap.abs().sum() == 0
    assert targets.kpt_reg.shape == (0, 12)


def test_targets_bad_input():
    bboxes, labels, keypoints, visible, batch_ids = _toy_batch()
    with pytest.raises(ValueError, match='keypoints'):
        build_deepmark_targets(bboxes, labels, keypoints[:, :5], visible, batch_ids, 2, (16, 16),
                               (64, 64), MASK)
    with pytest.raises(ValueError, match='labels'):
        build_deepmark_targets(bboxes, labels + 1, keypoints, visible, batch_ids, 2, (16, 16),
                               (64, 64), MASK)


def test_dense_regression_rows_point_at_the_same_targets():
    """Every row of the radius-1 window regresses the same box and landmarks from its pixel."""
    batch = _toy_batch()
    sparse = build_deepmark_targets(*batch, batch_size=2, feat_size=(16, 16), input_size=(64, 64),
                                    category_keypoint_mask=MASK)
    dense = build_deepmark_targets(*batch, batch_size=2, feat_size=(16, 16), input_size=(64, 64),
                                   category_keypoint_mask=MASK, regression_radius=1)
    # same heatmaps and counts; garment 0 (radius >= 1) owns its full 3x3 window, garment 1's
    # window is cut by the bottom border (centre row 14 of 16: rows 13-15 remain, 9 pixels)
    torch.testing.assert_close(dense.center_heatmap, sparse.center_heatmap)
    torch.testing.assert_close(dense.kpt_heatmap, sparse.kpt_heatmap)
    assert (dense.num_objects, dense.num_kpt_targets) == (2, 3)
    assert dense.center_batch_ids.tolist() == [0] * 9 + [1] * 9

    def xy(pixel_index):
        return torch.stack([pixel_index % 16, pixel_index // 16], dim=1).float()

    centre_rows = xy(dense.center_pixel_index)
    garment = dense.center_batch_ids  # garment i sits in image i
    true_centres = xy(sparse.center_pixel_index) + sparse.offset
    torch.testing.assert_close(centre_rows + dense.offset, true_centres[garment])
    torch.testing.assert_close(dense.wh, sparse.wh[garment])
    # weights: the garment's own heatmap Gaussian at each pixel, 1 at the integer centre
    labels = torch.tensor([0, 1])[garment]
    heat = dense.center_heatmap.flatten(2)[garment, labels, dense.center_pixel_index]
    torch.testing.assert_close(dense.center_weight, heat)
    assert int((dense.center_weight == 1).sum()) == 2
    # kpt_reg from each row's pixel lands on the same landmark
    supervised = dense.kpt_reg_weight > 0
    landmarks = (dense.kpt_reg.view(-1, 6, 2) + centre_rows.unsqueeze(1)).view(-1, 12)
    expected = (sparse.kpt_reg.view(-1, 6, 2) +
                xy(sparse.center_pixel_index).unsqueeze(1)).view(-1, 12)[garment]
    torch.testing.assert_close(landmarks[supervised], expected[supervised])
    # kpt_offset rows also point at their landmark; landmark 0 (at (3, 5)) owns its 3x3 window
    kpt_rows = xy(dense.kpt_pixel_index) + dense.kpt_offset
    true_keypoints = xy(sparse.kpt_pixel_index) + sparse.kpt_offset
    owner = torch.cdist(kpt_rows, true_keypoints).argmin(1)
    torch.testing.assert_close(kpt_rows, true_keypoints[owner])
    assert dense.kpt_weight.max() == 1 and int((owner == 0).sum()) == 9
