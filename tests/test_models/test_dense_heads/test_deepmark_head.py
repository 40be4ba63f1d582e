# Copyright (c) deepmark_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

import deepmark_mm  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.models.dense_heads import DeepMarkHead

LOSS_NAMES = ('loss_center_heatmap', 'loss_wh', 'loss_offset', 'loss_kpt_reg', 'loss_kpt_heatmap',
              'loss_kpt_offset')


def _head(**kwargs):
    cfg = dict(type='DeepMarkHead', in_channels=8, feat_channels=8)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    assert isinstance(head, DeepMarkHead)
    head.init_weights()
    return head


def _match(pred, gt, label):
    """Index of the prediction with ``label`` whose box is closest to ``gt``'s."""
    boxes = pred.bboxes.clone()
    boxes[pred.labels != label] = 1e6
    return int((boxes - gt).abs().amax(-1).argmin())


def test_forward_shapes_and_init():
    head = _head(num_classes=2, num_keypoints=6, keypoint_slices=[[0, 4], [4, 6]],
                 num_feat_levels=2)
    feats = (torch.rand(2, 8, 12, 10), torch.rand(2, 8, 12, 10))
    outs = head(feats)
    assert len(outs) == 6 and all(len(level_list) == 2 for level_list in outs)
    channels = [out[1].shape[1] for out in outs]
    assert channels == [2, 2, 2, 12, 6, 2]
    assert all(out[0].shape[2:] == (12, 10) for out in outs)
    for branch in (head.heatmap_head, head.kpt_heatmap_head):
        assert torch.all(branch[1][-1].bias == -2.19)
    assert head.wh_head[0][0].weight.std() < 0.01
    assert head.codec.category_keypoint_mask.tolist()[1] == [False] * 4 + [True] * 2
    with pytest.raises(ValueError, match='num_feat_levels'):
        head(feats[:1])


def test_per_branch_hidden_channels_and_bad_settings():
    head = _head(feat_channels=dict(default=8, kpt_heatmap=24))
    hidden = [branch[0][0].out_channels for branch in (
        head.heatmap_head, head.wh_head, head.offset_head, head.kpt_reg_head,
        head.kpt_heatmap_head, head.kpt_offset_head)]
    assert hidden == [8, 8, 8, 8, 24, 8]
    assert head.kpt_heatmap_head[0][-1].in_channels == 24
    with pytest.raises(ValueError, match="branch 'wh'"):
        _head(feat_channels=dict(heatmap=8))
    with pytest.raises(ValueError, match='regression_radius'):
        _head(regression_radius=-1)


def test_default_slices_come_from_metainfo_and_bad_slices_fail():
    head = _head()
    assert head.keypoint_slices == [tuple(s) for s in KEYPOINT_SLICES]
    assert head.codec.category_keypoint_mask.shape == (13, NUM_KEYPOINTS)
    assert head.kpt_reg_head[0][-1].out_channels == 2 * NUM_KEYPOINTS
    with pytest.raises(ValueError, match='keypoint_slices is required'):
        _head(num_classes=2, num_keypoints=6)
    with pytest.raises(ValueError, match='keypoint_slices must tile the 6 slots.*ends past'):
        _head(num_classes=2, num_keypoints=6, keypoint_slices=[[0, 4], [4, 7]])


@pytest.mark.parametrize('with_nms', [False, True])
def test_perfect_outputs_round_trip(two_images, perfect_outputs_of, with_nms):
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    # regressed landmarks 0.6 feature px off: the heatmap peaks must pull them back exactly
    outs[3][0] = outs[3][0] + 0.6
    results = head.predict_by_feat(*outs, batch_img_metas=metas, rescale=False, with_nms=with_nms)
    for gt, result in zip(gts, results):
        assert int((result.scores > 0.5).sum()) == len(gt)
        assert torch.all(result.scores[:-1] >= result.scores[1:])
        for index in range(len(gt)):
            label = int(gt.labels[index])
            gt_box = gt.bboxes.tensor[index]
            det = _match(result, gt_box, label)
            assert result.scores[det] > 0.99
            torch.testing.assert_close(result.bboxes[det], gt_box, atol=1e-3, rtol=0)
            start, end = KEYPOINT_SLICES[label]
            labelled = gt.keypoints_visible[index] > 0
            assert labelled[start:end].sum() >= 0.7 * (end - start)
            torch.testing.assert_close(result.keypoints[det][labelled],
                                       gt.keypoints[index][labelled], atol=1e-3, rtol=0)
            assert torch.all(result.keypoint_scores[det][labelled] > 0.99)  # snapped peaks
            outside = torch.ones(NUM_KEYPOINTS, dtype=torch.bool)
            outside[start:end] = False
            assert result.keypoints[det][outside].abs().sum() == 0
            assert result.keypoint_scores[det][outside].abs().sum() == 0


def test_dense_regression_reads_the_box_from_a_peak_one_pixel_off(two_images, perfect_outputs_of):
    """regression_radius=1: a centre peak one pixel right of the true one still decodes the box."""
    gts, metas = two_images
    errors = {}
    for radius in (0, 1):
        head = _head(regression_radius=radius)
        outs = perfect_outputs_of(head, gts, metas, (32, 32))
        outs[0][0] = outs[0][0].roll(1, dims=3)  # every centre peak one pixel right
        results = head.predict_by_feat(*outs, batch_img_metas=metas)
        worst_box, worst_kpt = 0., 0.
        for gt, result in zip(gts, results):
            for index in range(len(gt)):
                det = _match(result, gt.bboxes.tensor[index], int(gt.labels[index]))
                worst_box = max(worst_box, float(
                    (result.bboxes[det] - gt.bboxes.tensor[index]).abs().max()))
                labelled = gt.keypoints_visible[index] > 0
                worst_kpt = max(worst_kpt, float(
                    (result.keypoints[det][labelled] - gt.keypoints[index][labelled]).abs().max()))
        errors[radius] = worst_box, worst_kpt
    assert errors[1][0] < 1e-3 and errors[1][1] < 1e-3
    assert errors[0][0] > 1.0  # CenterNet's single-pixel targets: the box is a stride off


@pytest.mark.parametrize('keypoint_vote', [False, True])
def test_votes_of_dense_regression_round_trip(two_images, perfect_outputs_of, keypoint_vote):
    """Every window pixel of a dense-regression model reads the same box and coarse landmarks,
    and every pixel a landmark's slot owns reads that landmark: the votes keep them exact."""
    gts, metas = two_images
    head = _head(regression_radius=1,
                 test_cfg=dict(vote_radius=1, kpt_vote_radius=int(keypoint_vote)))
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    if not keypoint_vote:
        outs[4][0] = torch.full_like(outs[4][0], -20.)  # coarse landmarks only: no snapping
    for gt, result in zip(gts, head.predict_by_feat(*outs, batch_img_metas=metas)):
        for index in range(len(gt)):
            det = _match(result, gt.bboxes.tensor[index], int(gt.labels[index]))
            torch.testing.assert_close(result.bboxes[det], gt.bboxes.tensor[index], atol=1e-3,
                                       rtol=0)
            labelled = gt.keypoints_visible[index] > 0
            torch.testing.assert_close(result.keypoints[det][labelled],
                                       gt.keypoints[index][labelled], atol=1e-3, rtol=0)


def test_coarse_landmarks_alone_round_trip(two_images, perfect_outputs_of):
    """With empty landmark heatmaps nothing snaps: the regressed landmarks are returned."""
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    outs[4][0] = torch.full_like(outs[4][0], -20.)
    results = head.predict_by_feat(*outs, batch_img_metas=metas)
    for gt, result in zip(gts, results):
        for index in range(len(gt)):
            det = _match(result, gt.bboxes.tensor[index], int(gt.labels[index]))
            labelled = gt.keypoints_visible[index] > 0
            torch.testing.assert_close(result.keypoints[det][labelled],
                                       gt.keypoints[index][labelled], atol=1e-3, rtol=0)
            # fallback score: landmark heatmap probability at the coarse landmark
            torch.testing.assert_close(result.keypoint_scores[det][labelled],
                                       torch.sigmoid(torch.tensor(-20.)).expand(
                                           int(labelled.sum())))


def test_nms_removes_duplicate_and_is_off_by_default(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts[1:], metas[1:], (32, 32))
    # a second, weaker peak of the same class 3 cells right of the true centre, same box size
    center = outs[0][0][0, 10].flatten().argmax()
    cy, cx = divmod(int(center), 32)
    outs[0][0][0, 10, cy, cx + 3] = torch.logit(torch.tensor(0.8))
    outs[1][0][0, :, cy, cx + 3] = outs[1][0][0, :, cy, cx]
    plain = head.predict_by_feat(*outs, batch_img_metas=metas[1:])[0]
    assert int((plain.scores > 0.5).sum()) == 2
    nms = head.predict_by_feat(*outs, batch_img_metas=metas[1:], with_nms=True)[0]
    assert int((nms.scores > 0.5).sum()) == 1
    assert len(nms) < len(plain)
    configured = _head(test_cfg=dict(nms=dict(type='nms', iou_threshold=0.5)))
    assert int((configured.predict_by_feat(*outs, batch_img_metas=metas[1:])[0].scores >
                0.5).sum()) == 1


def test_rescale_with_homography_and_scale_factor(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts[1:], metas[1:], (32, 32))
    # original -> input: x' = 0.5 x + 10, y' = 0.5 y + 6
    homography = np.array([[0.5, 0, 10], [0, 0.5, 6], [0, 0, 1]], dtype=np.float32)
    meta = dict(metas[1], homography_matrix=homography, scale_factor=(7., 7.))
    result = head.predict_by_feat(*outs, batch_img_metas=[meta], rescale=True)[0]
    gt = gts[1]
    box_orig = (gt.bboxes.tensor[0] - torch.tensor([10., 6., 10., 6.])) / 0.5
    torch.testing.assert_close(result.bboxes[0], box_orig, atol=2e-3, rtol=0)
    labelled = gt.keypoints_visible[0] > 0
    kpt_orig = (gt.keypoints[0] - torch.tensor([10., 6.])) / 0.5
    torch.testing.assert_close(result.keypoints[0][labelled], kpt_orig[labelled], atol=2e-3,
                               rtol=0)
    assert result.keypoints[0][~head.codec.category_keypoint_mask[10]].abs().sum() == 0
    # without a homography the scale factor is used
    meta = dict(metas[1], scale_factor=(0.5, 0.25))
    result = head.predict_by_feat(*outs, batch_img_metas=[meta], rescale=True)[0]
    torch.testing.assert_close(result.bboxes[0], gt.bboxes.tensor[0] / torch.tensor(
        [0.5, 0.25, 0.5, 0.25]), atol=2e-3, rtol=0)
    with pytest.raises(KeyError, match='homography_matrix or scale_factor'):
        head.predict_by_feat(*outs, batch_img_metas=metas[1:], rescale=True)


def test_exclusive_grouping_from_test_cfg(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head(test_cfg=dict(grouping=dict(type='ExclusiveKeypointGrouping')))
    assert head.codec.grouping == 'exclusive'
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    result = head.predict_by_feat(*outs, batch_img_metas=metas)[0]
    det = _match(result, gts[0].bboxes.tensor[1], 7)
    labelled = gts[0].keypoints_visible[1] > 0
    torch.testing.assert_close(result.keypoints[det][labelled], gts[0].keypoints[1][labelled],
                               atol=1e-3, rtol=0)


def test_loss_normalisation_exact_values(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    losses = head.loss_by_feat(*outs, gts, metas)
    assert set(losses) == set(LOSS_NAMES)
    for name in ('loss_wh', 'loss_offset', 'loss_kpt_reg', 'loss_kpt_offset'):
        assert losses[name].item() == 0
    # errors of known size: per-coordinate mean times the loss weight
    shifted = list(outs)
    shifted[1] = [outs[1][0] + 0.5]  # wh, weight 0.1
    shifted[3] = [outs[3][0] - 1.0]  # kpt_reg, weight 1
    shifted[5] = [outs[5][0] + 0.25]  # kpt_offset, weight 1
    losses = head.loss_by_feat(*shifted, gts, metas)
    assert losses['loss_wh'].item() == pytest.approx(0.05, rel=1e-5)
    assert losses['loss_kpt_reg'].item() == pytest.approx(1.0, rel=1e-5)
    assert losses['loss_kpt_offset'].item() == pytest.approx(0.25, rel=1e-5)
    # perfect heatmaps score far better than the initial constant ones
    initial = [torch.full_like(outs[0][0], -2.19)], [torch.full_like(outs[4][0], -2.19)]
    bad = head.loss_by_feat(initial[0], *outs[1:4], initial[1], outs[5], gts, metas)
    for name in ('loss_center_heatmap', 'loss_kpt_heatmap'):
        assert 0 < losses[name] < 0.2 * bad[name]


def test_losses_and_gradients_do_not_depend_on_memory_format(two_images):
    """Channels-last maps (ChannelsLastHook) give the same losses and gradients as NCHW ones."""
    gts, metas = two_images
    head = _head(regression_radius=1)
    torch.manual_seed(0)
    feats = torch.randn(2, 8, 32, 32)
    grads, losses = [], []
    for layout in (torch.contiguous_format, torch.channels_last):
        x = feats.clone().contiguous(memory_format=layout).requires_grad_()
        level_losses = head.loss_by_feat(*head((x, )), gts, metas)
        sum(level_losses.values()).backward()
        grads.append(x.grad)
        losses.append(torch.stack([level_losses[name] for name in LOSS_NAMES]))
    assert losses[0].min() > 0
    torch.testing.assert_close(losses[1], losses[0])
    torch.testing.assert_close(grads[1], grads[0])


def test_levels_are_averaged(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head(num_feat_levels=2)
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    two_levels = [level_list * 2 for level_list in outs]
    two_levels[1] = [outs[1][0] + 0.5, outs[1][0] + 1.5]
    losses = head.loss_by_feat(*two_levels, gts, metas)
    assert losses['loss_wh'].item() == pytest.approx(0.1 * (0.5 + 1.5) / 2, rel=1e-5)


def test_empty_ground_truth_losses(garment_factory):
    head = _head(num_feat_levels=2)
    feats = (torch.rand(2, 8, 16, 16, requires_grad=True), torch.rand(2, 8, 16, 16))
    empty = garment_factory([])
    metas = [dict(batch_input_shape=(64, 64), img_shape=(64, 64))] * 2
    losses = head.loss_by_feat(*head(feats), [empty, empty], metas)
    for name in ('loss_center_heatmap', 'loss_kpt_heatmap'):
        assert torch.isfinite(losses[name]) and losses[name] > 0
    for name in ('loss_wh', 'loss_offset', 'loss_kpt_reg', 'loss_kpt_offset'):
        assert losses[name].item() == 0
    sum(losses.values()).backward()
    assert torch.isfinite(feats[0].grad).all() and feats[0].grad.abs().sum() > 0


def test_bad_ground_truth_names_the_image(two_images):
    gts, metas = two_images
    head = _head()
    broken = gts[0].clone()
    broken.keypoints = broken.keypoints[:, :100]
    metas = [dict(m, img_path=f'img_{i}.jpg') for i, m in enumerate(metas)]
    with pytest.raises(ValueError, match='img_0.jpg'):
        head.get_targets([broken, gts[1]], metas, (2, 13, 32, 32))
    broken = gts[1].clone()
    broken.labels = broken.labels + 5
    with pytest.raises(ValueError, match='img_1.jpg'):
        head.get_targets([gts[0], broken], metas, (2, 13, 32, 32))


def test_landmark_score_weight_rescores_and_reorders(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head()
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    # the trousers' (category 7) landmark heatmaps respond at 4 % of the others' strength
    start, end = KEYPOINT_SLICES[7]
    outs[4][0][0, start:end] = torch.logit(outs[4][0][0, start:end].sigmoid() * 0.04)
    plain = head.predict_by_feat(*outs, batch_img_metas=metas, rescale=False)[0]
    weighted = _head(test_cfg=dict(keypoint_score_weight=0.5)).predict_by_feat(
        *outs, batch_img_metas=metas, rescale=False)[0]
    assert len(weighted) == len(plain)
    assert torch.all(weighted.scores[:-1] >= weighted.scores[1:])
    # each score is the geometric mean of its centre score and mean own-slot landmark score
    for index in range(3):
        match = _match(plain, gts[0].bboxes.tensor[index], int(gts[0].labels[index]))
        again = _match(weighted, gts[0].bboxes.tensor[index], int(gts[0].labels[index]))
        own = weighted.keypoint_scores[again] > 0
        mean_own = weighted.keypoint_scores[again][own].mean()
        assert weighted.scores[again].item() == pytest.approx(
            (plain.scores[match] * mean_own).sqrt().item(), rel=1e-5)
        torch.testing.assert_close(weighted.keypoints[again], plain.keypoints[match])
    trousers = _match(weighted, gts[0].bboxes.tensor[1], 7)
    tops = [_match(weighted, gts[0].bboxes.tensor[i], 0) for i in (0, 2)]
    assert all(weighted.scores[trousers] < 0.5 * weighted.scores[top] for top in tops)


def test_an_old_decoding_option_name_is_refused_naming_the_new_one():
    with pytest.raises(ValueError, match='now called keypoint_score_weight'):
        _head(test_cfg=dict(landmark_score_weight=0.5))  # keep old name
