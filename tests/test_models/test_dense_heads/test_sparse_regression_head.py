# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The CPU-training head (deepmark_mm.cpu_training) trains exactly the paper head's model."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

import deepmark_mm  # noqa: F401
from deepmark_mm.cpu_training import (BranchAtPixels, CenterNetFocalLoss,
                                      SparseRegressionDeepMarkHead)
from deepmark_mm.models.dense_heads import DeepMarkHead


def _heads(**kwargs):
    """A paper head (dense, GaussianFocalLoss) and a CPU head with the same weights."""
    dense = MODELS.build(dict(type='DeepMarkHead', in_channels=8, feat_channels=8, **kwargs))
    dense.init_weights()
    for branch in (dense.wh_head, dense.offset_head, dense.kpt_reg_head, dense.kpt_offset_head):
        for module in branch.modules():
            if isinstance(module, torch.nn.Conv2d):  # larger than init's 0.001: visible grads
                torch.nn.init.normal_(module.weight, std=0.3)
    sparse = MODELS.build(
        dict(type='SparseRegressionDeepMarkHead', in_channels=8, feat_channels=8, **kwargs))
    sparse.load_state_dict(dense.state_dict())
    assert type(dense) is DeepMarkHead and isinstance(sparse, SparseRegressionDeepMarkHead)
    assert type(dense.loss_center_heatmap).__name__ == 'GaussianFocalLoss'
    assert isinstance(sparse.loss_kpt_heatmap, CenterNetFocalLoss)
    return dense, sparse


@pytest.mark.parametrize('regression_radius', [0, 1])
def test_cpu_head_equals_the_paper_heads_losses_and_gradients(two_images, regression_radius):
    gts, metas = two_images
    heads = _heads(regression_radius=regression_radius, num_feat_levels=2)
    torch.manual_seed(0)
    feats = [torch.randn(2, 8, 32, 32) for _ in range(2)]
    samples = [DetDataSample(gt_instances=gt, metainfo=meta) for gt, meta in zip(gts, metas)]
    results = []
    for head in heads:
        x = tuple(f.clone().contiguous(memory_format=torch.channels_last).requires_grad_()
                  for f in feats)
        outs = head.forward_for_loss(x) if isinstance(head, SparseRegressionDeepMarkHead) \
            else head(x)
        assert isinstance(outs[1][0], BranchAtPixels) == (head is heads[1])
        losses = head.loss(x, samples)
        sum(losses.values()).backward()
        results.append(([losses[name] for name in sorted(losses)], [f.grad for f in x],
                        [p.grad.clone() for p in head.parameters()]))
    assert len(results[0][0]) == 6 and min(results[0][0]) > 0
    for dense, sparse in zip(results[0], results[1]):
        torch.testing.assert_close(sparse, dense, rtol=1e-4, atol=1e-6)


def test_cpu_head_predicts_like_the_paper_head(two_images, perfect_outputs_of):
    gts, metas = two_images
    dense, sparse = _heads()
    outs = perfect_outputs_of(dense, gts, metas, (32, 32))
    for a, b in zip(dense.predict_by_feat(*outs, batch_img_metas=metas),
                    sparse.predict_by_feat(*outs, batch_img_metas=metas)):
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'):
            assert torch.equal(a.get(key), b.get(key))


def test_cpu_head_refuses_a_loss_that_takes_probabilities():
    with pytest.raises(TypeError, match='loss_center_heatmap must be a CenterNetFocalLoss'):
        MODELS.build(dict(type='SparseRegressionDeepMarkHead', in_channels=8, feat_channels=8,
                          loss_center_heatmap=dict(type='GaussianFocalLoss')))
