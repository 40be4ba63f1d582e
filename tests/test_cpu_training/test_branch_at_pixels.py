# Copyright (c) deepmark_mm contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn

from deepmark_mm.cpu_training.sparse_regression_head import (BranchAtPixels, NeighbourhoodCache,
                                                             is_conv3x3_relu_conv1x1)


def _branch(in_channels=5, hidden=7, out_channels=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(hidden, out_channels, 1))


@pytest.mark.parametrize('layout', [torch.contiguous_format, torch.channels_last])
def test_values_and_gradients_equal_the_dense_branch_at_the_pixels(layout):
    branch = _branch()
    height, width = 6, 9
    feat = torch.randn(2, 5, height, width).contiguous(memory_format=layout)
    # every corner and border of both images, an inner pixel and a repeated pixel
    ys = torch.tensor([0, 0, 5, 5, 3, 0, 2, 2])
    xs = torch.tensor([0, 8, 0, 8, 4, 4, 7, 7])
    batch_ids = torch.tensor([0, 1, 1, 0, 1, 0, 1, 1])
    pixel_index = ys * width + xs
    weights = torch.randn(len(ys), 3)

    dense_feat = feat.clone().requires_grad_()
    dense = branch(dense_feat)[batch_ids, :, ys, xs]
    (dense * weights).sum().backward()
    dense_grads = [dense_feat.grad] + [p.grad.clone() for p in branch.parameters()]
    branch.zero_grad()

    sparse_feat = feat.clone().requires_grad_()
    sparse = BranchAtPixels(sparse_feat, branch).rows(batch_ids, pixel_index)
    (sparse * weights).sum().backward()
    sparse_grads = [sparse_feat.grad] + [p.grad for p in branch.parameters()]

    assert sparse.shape == (8, 3)
    torch.testing.assert_close(sparse, dense)
    for got, expected in zip(sparse_grads, dense_grads):
        torch.testing.assert_close(got, expected)


def test_branch_at_pixels_reads_like_its_dense_map():
    branch = _branch(out_channels=4)
    feat = torch.randn(3, 5, 4, 4)
    lazy = BranchAtPixels(feat, branch)
    dense = lazy.branch(lazy.feat)
    batch_ids = torch.arange(3).repeat_interleave(16)
    pixel_index = torch.arange(16).repeat(3)
    rows = lazy.rows(batch_ids, pixel_index)
    torch.testing.assert_close(rows, dense.permute(0, 2, 3, 1).reshape(-1, 4))
    assert lazy.rows(batch_ids[:0], pixel_index[:0]).shape == (0, 4)


def test_rows_are_float32_under_bfloat16_autocast():
    """The rows feed sub-pixel L1 losses: under CPU bfloat16 autocast they are computed in
    float32 from the (bfloat16) input map, while the dense branch would round them."""
    branch = _branch(out_channels=2)
    feat = (torch.randn(1, 5, 4, 4) * 8).to(torch.bfloat16).requires_grad_()
    batch_ids, pixel_index = torch.zeros(16, dtype=torch.long), torch.arange(16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        rows = BranchAtPixels(feat, branch).rows(batch_ids, pixel_index)
        dense_bf16 = branch(feat)
    expected = branch(feat.detach().float()).permute(0, 2, 3, 1).reshape(-1, 2)
    assert rows.dtype == torch.float32 and dense_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(rows, expected, rtol=1e-5, atol=1e-5)
    bf16_error = (dense_bf16.float().permute(0, 2, 3, 1).reshape(-1, 2) - expected).abs().max()
    assert bf16_error > 10 * (rows - expected).abs().max()
    rows.sum().backward()
    assert feat.grad.dtype == torch.bfloat16 and feat.grad.abs().sum() > 0


def test_only_the_exact_branch_shape_is_accepted():
    assert is_conv3x3_relu_conv1x1(_branch())
    dilated = _branch()
    dilated[0] = nn.Conv2d(5, 7, 3, padding=2, dilation=2)
    with_norm = nn.Sequential(nn.Conv2d(5, 7, 3, padding=1), nn.BatchNorm2d(7), nn.Conv2d(7, 3, 1))
    for other in (dilated, with_norm, nn.Conv2d(5, 3, 1)):
        assert not is_conv3x3_relu_conv1x1(other)
    with pytest.raises(TypeError, match='BranchAtPixels'):
        BranchAtPixels(torch.zeros(1, 5, 2, 2), dilated)


def test_branches_sharing_a_cache_gather_each_pixel_set_once():
    feat = torch.randn(2, 5, 4, 6, requires_grad=True)
    cache = NeighbourhoodCache(feat)
    first, second = BranchAtPixels(cache, _branch(seed=1)), BranchAtPixels(cache, _branch(seed=2))
    batch_ids, pixel_index = torch.tensor([0, 1, 1]), torch.tensor([0, 7, 23])
    rows = first.rows(batch_ids, pixel_index), second.rows(batch_ids, pixel_index)
    assert len(cache._entries) == 1
    other_pixels = torch.tensor([5, 6, 11])
    second.rows(batch_ids, other_pixels)
    assert len(cache._entries) == 2
    for lazy, read in zip((first, second), rows):
        expected = lazy.branch(lazy.feat)[batch_ids, :, pixel_index // 6, pixel_index % 6]
        torch.testing.assert_close(read, expected)
    # the shared patches carry the gradient of both branches
    (rows[0].sum() + rows[1].sum()).backward()
    dense_feat = feat.detach().clone().requires_grad_()
    (first.branch(dense_feat)[batch_ids, :, pixel_index // 6, pixel_index % 6].sum() +
     second.branch(dense_feat)[batch_ids, :, pixel_index // 6, pixel_index % 6].sum()).backward()
    torch.testing.assert_close(feat.grad, dense_feat.grad)
