# Copyright (c) deepmark_mm contributors. All rights reserved.
"""NMS / soft-NMS (mmcv.ops on the stand-in kernels on mmcv-lite) and deepmark_mm.ops.batched_nms
against scalar references of mmcv's kernels, and the stand-in against mmcv's compiled kernels
where full mmcv is installed."""
import math

import pytest
import torch

from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops, use_stand_in_kernels
from deepmark_mm.ops import NMS_OPS, batched_nms, nms, soft_nms

needs_full_mmcv = pytest.mark.skipif(not mmcv_has_compiled_ops(),
                                     reason='full mmcv (compiled ops) is not installed')


@pytest.fixture
def stand_in():
    """The stand-in kernels (also with full mmcv, whose compiled soft-NMS is float32 only)."""
    with use_stand_in_kernels():
        yield


def random_boxes(num, seed, size=100.):
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(num, 2, generator=generator) * size
    extent = torch.rand(num, 2, generator=generator) * size / 3 + 1
    return torch.cat([corner, corner + extent], dim=1), torch.rand(num, generator=generator)


def scalar_iou(a, b, offset=0):
    w = max(0., min(a[2], b[2]) - max(a[0], b[0]) + offset)
    h = max(0., min(a[3], b[3]) - max(a[1], b[1]) + offset)
    inter = w * h
    area_a = (a[2] - a[0] + offset) * (a[3] - a[1] + offset)
    area_b = (b[2] - b[0] + offset) * (b[3] - b[1] + offset)
    return inter / (area_a + area_b - inter)


def reference_soft_nms(boxes, scores, iou_threshold, sigma, min_score, method):
    """mmcv's CPU soft-NMS kernel, one scalar at a time (swap-with-last removal)."""
    rows = boxes.tolist()
    sc = scores.tolist()
    inds = list(range(len(rows)))
    n = len(rows)
    i = 0
    while i < n:
        best = max(range(i, n), key=lambda k: (sc[k], -k))  # first maximum
        for seq in (rows, sc, inds):
            seq[i], seq[best] = seq[best], seq[i]
        pos = i + 1
        while pos < n:
            ovr = scalar_iou(rows[i], rows[pos])
            if method == 'gaussian':
                weight = math.exp(-ovr * ovr / sigma)
            elif method == 'linear':
                weight = 1 - ovr if ovr >= iou_threshold else 1.
            else:
                weight = 0. if ovr >= iou_threshold else 1.
            sc[pos] *= weight
            if sc[pos] < min_score:
                for seq in (rows, sc, inds):
                    seq[pos] = seq[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return inds[:n], sc[:n]


def reference_nms(boxes, scores, iou_threshold, offset=0):
    order = sorted(range(len(boxes)), key=lambda k: -float(scores[k]))
    kept = []
    for k in order:
        if all(scalar_iou(boxes[k].tolist(), boxes[j].tolist(), offset) <= iou_threshold
               for j in kept):
            kept.append(k)
    return kept


def test_gaussian_decay_of_two_boxes_is_exact(stand_in):
    boxes = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.]], dtype=torch.float64)
    dets, keep = soft_nms(boxes, torch.tensor([0.9, 0.8], dtype=torch.float64), sigma=0.5,
                          method='gaussian')
    iou = 50. / 150.
    assert keep.tolist() == [0, 1]
    assert dets[1, 4].item() == pytest.approx(0.8 * math.exp(-iou**2 / 0.5), rel=1e-12)
    assert torch.equal(dets[:, :4], boxes) and dets.dtype == torch.float64


@pytest.mark.parametrize('method', ['gaussian', 'linear', 'naive'])
@pytest.mark.parametrize('seed', [0, 1])
def test_soft_nms_matches_the_kernel_reference(method, seed, stand_in):
    boxes, scores = random_boxes(120, seed)
    boxes, scores = boxes.double(), scores.double()
    dets, keep = soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, min_score=0.05,
                          method=method)
    ref_keep, ref_scores = reference_soft_nms(boxes, scores, 0.3, 0.5, 0.05, method)
    assert keep.tolist() == ref_keep
    assert 10 < len(ref_keep) < 120  # some boxes removed, many kept: the case is not trivial
    torch.testing.assert_close(dets[:, 4], torch.tensor(ref_scores, dtype=torch.float64),
                               rtol=1e-6, atol=1e-9)
    assert (dets[:-1, 4] >= dets[1:, 4]).all()


def test_soft_nms_breaks_ties_in_the_kernel_order(stand_in):
    boxes = torch.tensor([[0., 0., 10., 10.]] * 3 + [[50., 50., 60., 60.]] * 3)
    scores = torch.tensor([0.5, 0.5, 0.004, 0.5, 0.5, 0.5])
    keep = soft_nms(boxes, scores, min_score=0.1, method='gaussian')[1]
    assert keep.tolist() == reference_soft_nms(boxes, scores, 0.3, 0.5, 0.1, 'gaussian')[0]


def test_nms_matches_greedy_reference_and_caps(stand_in):
    boxes, scores = random_boxes(150, 3)
    dets, keep = nms(boxes, scores, 0.4)
    assert keep.tolist() == reference_nms(boxes, scores, 0.4)
    assert torch.equal(dets[:, :4], boxes[keep]) and torch.equal(dets[:, 4], scores[keep])
    assert nms(boxes, scores, 0.4, max_num=5)[1].tolist() == keep[:5].tolist()
    above = nms(boxes, scores, 0.4, score_threshold=0.5)[1]
    assert (scores[above] > 0.5).all() and set(above.tolist()) <= set(keep.tolist()) | set(
        reference_nms(boxes[scores > 0.5], scores[scores > 0.5], 0.4))
    small = boxes / 10  # mmcv's legacy +1 box size matters for small boxes
    with_offset = nms(small, scores, 0.4, offset=1)[1].tolist()
    assert with_offset == reference_nms(small, scores, 0.4, offset=1) != keep.tolist()


@pytest.mark.parametrize('op', ['nms', 'soft_nms'])
def test_batched_nms_never_suppresses_across_classes(op, stand_in):
    boxes, scores = random_boxes(80, 4)
    labels = torch.arange(80) % 3
    cfg = dict(type=op, iou_threshold=0.3)
    if op == 'soft_nms':
        cfg.update(min_score=0.1, method='linear')
    dets, keep = batched_nms(boxes, scores, labels, cfg)
    op_args = {k: v for k, v in cfg.items() if k != 'type'}
    for label in range(3):
        members = (labels == label).nonzero().flatten()
        own_dets, own_keep = NMS_OPS[op](boxes[members], scores[members], **op_args)
        assert sorted(members[own_keep].tolist()) == sorted(keep[labels[keep] == label].tolist())
    assert (dets[:-1, 4] >= dets[1:, 4]).all()
    agnostic = batched_nms(boxes, scores, labels, cfg, class_agnostic=True)[1]
    assert len(agnostic) < len(keep)
    with pytest.raises(ValueError, match="'soft' is not an op of deepmark_mm.ops"):
        batched_nms(boxes, scores, labels, dict(type='soft'))


@needs_full_mmcv
@pytest.mark.parametrize('method', ['gaussian', 'linear', 'naive'])
def test_soft_nms_equals_mmcv(method):
    import mmcv.ops
    for seed in range(5):
        boxes, scores = random_boxes(300, seed)
        with use_stand_in_kernels():
            ours = soft_nms(boxes, scores, 0.3, 0.5, 0.001, method)
        theirs = mmcv.ops.soft_nms(boxes, scores, 0.3, 0.5, 0.001, method)
        assert ours[1].tolist() == theirs[1].tolist()
        torch.testing.assert_close(ours[0], theirs[0], rtol=1e-5, atol=1e-6)


@needs_full_mmcv
def test_nms_and_batched_nms_equal_mmcv():
    import mmcv.ops
    for seed in range(5):
        boxes, scores = random_boxes(300, seed)
        labels = torch.arange(300) % 4
        with use_stand_in_kernels():
            keep = nms(boxes, scores, 0.5)[1].tolist()
            ours = batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.5))
        assert keep == mmcv.ops.nms(boxes, scores, 0.5)[1].tolist()
        theirs = mmcv.ops.batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.5))
        assert ours[1].tolist() == theirs[1].tolist()
        torch.testing.assert_close(ours[0], theirs[0])
