# Copyright (c) deepmark_mm contributors. All rights reserved.
import itertools

import pytest
import torch

from deepmark_mm.models.task_modules import group_keypoints_exclusive, group_keypoints_nearest

RULES = [group_keypoints_nearest, group_keypoints_exclusive]


def _scene(boxes, coarse, peaks, peak_scores, mask=None):
    """Batch of one: boxes (K, 4), coarse (K, J, 2), peaks (J, P, 2), peak_scores (J, P)."""
    coarse = torch.tensor(coarse, dtype=torch.float32)[None]
    if mask is None:
        mask = torch.ones(coarse.shape[:3], dtype=torch.bool)
    else:
        mask = torch.tensor(mask)[None]
    return dict(
        coarse_keypoints=coarse,
        keypoint_mask=mask,
        bboxes=torch.tensor(boxes, dtype=torch.float32)[None],
        peak_keypoints=torch.tensor(peaks, dtype=torch.float32)[None],
        peak_scores=torch.tensor(peak_scores, dtype=torch.float32)[None])


@pytest.mark.parametrize('rule', RULES)
def test_snaps_to_nearest_peak_inside_box(rule):
    # box 10x10 -> max snap distance 3; the nearest valid peak wins even if a farther one scores
    # higher
    scene = _scene([[0, 0, 10, 10]], [[[5, 5]]], [[[5.5, 5.2], [6, 6], [0, 0]]], [[0.6, 0.95, 0]])
    out = rule(**scene)
    assert out.snapped.tolist() == [[[True]]]
    torch.testing.assert_close(out.keypoints[0, 0, 0], torch.tensor([5.5, 5.2]))
    assert out.peak_scores[0, 0, 0].item() == pytest.approx(0.6)


@pytest.mark.parametrize('rule', RULES)
def test_no_snap_when_peak_outside_box(rule):
    scene = _scene([[0, 0, 10, 10]], [[[2, 1]]], [[[2, -0.5], [0, 0]]], [[0.9, 0]])
    out = rule(**scene)
    assert not out.snapped.any()
    torch.testing.assert_close(out.keypoints[0, 0, 0], torch.tensor([2., 1.]))
    assert out.peak_scores.sum() == 0


@pytest.mark.parametrize('rule', RULES)
def test_no_snap_when_peak_score_low(rule):
    # the only close peak scores 0.09 < 0.1; a peak at exactly the threshold is valid
    scene = _scene([[0, 0, 10, 10]], [[[5, 5]]], [[[5.1, 5], [9, 9]]], [[0.09, 0.9]])
    assert not rule(**scene).snapped.any()  # (9, 9) is 5.66 > 3 away
    scene = _scene([[0, 0, 10, 10]], [[[5, 5]]], [[[5.1, 5], [9, 9]]], [[0.1, 0.9]])
    assert rule(**scene).snapped.all()


@pytest.mark.parametrize('rule', RULES)
def test_no_snap_when_peak_too_far(rule):
    # box 10 x 20 -> max distance 0.3 * 20 = 6: a peak 6.5 away is refused, 5.9 accepted
    scene = _scene([[20, 20, 30, 40]], [[[25, 30]]], [[[25, 36.5]]], [[0.9]])
    assert not rule(**scene).snapped.any()
    scene = _scene([[20, 20, 30, 40]], [[[25, 30]]], [[[25, 35.9]]], [[0.9]])
    assert rule(**scene).snapped.all()


@pytest.mark.parametrize('rule', RULES)
def test_unmasked_slots_never_snap(rule):
    scene = _scene([[0, 0, 10, 10]], [[[5, 5], [5, 5]]], [[[5, 5]], [[5, 5]]], [[0.9], [0.9]],
                   mask=[[True, False]])
    out = rule(**scene)
    assert out.snapped.tolist() == [[[True, False]]]


def test_centernet_rule_does_not_try_second_nearest():
    # nearest valid peak is outside the box -> coarse kept although a second peak would fit
    scene = _scene([[0, 0, 10, 10]], [[[2, 1]]], [[[2, -0.3], [2, 3.4]]], [[0.9, 0.9]])
    assert not group_keypoints_nearest(**scene).snapped.any()
    # the exclusive rule filters candidates first, then matches
    out = group_keypoints_exclusive(**scene)
    assert out.snapped.all()
    torch.testing.assert_close(out.keypoints[0, 0, 0], torch.tensor([2., 3.4]))


def test_shared_peak():
    # two overlapping detections, one peak of the slot between them, closer to detection 1
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11]]
    coarse = [[[4, 5]], [[6, 5]]]
    peaks = [[[5.6, 5], [0, 0]]]
    scores = [[0.8, 0]]
    shared = group_keypoints_nearest(**_scene(boxes, coarse, peaks, scores))
    assert shared.snapped.tolist() == [[[True], [True]]]  # CenterNet: both take it
    exclusive = group_keypoints_exclusive(**_scene(boxes, coarse, peaks, scores))
    assert exclusive.snapped.tolist() == [[[False], [True]]]  # only the nearest
    torch.testing.assert_close(exclusive.keypoints[0, 0, 0], torch.tensor([4., 5.]))
    torch.testing.assert_close(exclusive.keypoints[0, 1, 0], torch.tensor([5.6, 5.]))
    # with a second, farther candidate (2.2 from detection 0, 4.2 > 3 from detection 1), the
    # loser takes it
    peaks2 = [[[5.6, 5], [1.8, 5]]]
    out = group_keypoints_exclusive(**_scene(boxes, coarse, peaks2, [[0.8, 0.3]]))
    assert out.snapped.all()
    torch.testing.assert_close(out.keypoints[0, :, 0], torch.tensor([[1.8, 5.], [5.6, 5.]]))
    torch.testing.assert_close(out.peak_scores[0, :, 0], torch.tensor([0.3, 0.8]))
    # a detection whose slots are masked out (e.g. removed by NMS) does not compete
    scene = _scene(boxes, coarse, peaks, scores)
    scene['keypoint_mask'] = scene['keypoint_mask'] & torch.tensor([[True, False]]).unsqueeze(-1)
    out = group_keypoints_exclusive(**scene)
    assert out.snapped.tolist() == [[[True], [False]]]


def _greedy_reference(coarse, mask, boxes, peaks, scores, score_thr=0.1, ratio=0.3):
    """Sequential greedy matching, one slot at a time (python loops, test only)."""
    batch, num_dets, num_slots, _ = coarse.shape
    taken = torch.full((batch, num_dets, num_slots), -1)
    for b, j in itertools.product(range(batch), range(num_slots)):
        pairs = []
        for k, p in itertools.product(range(num_dets), range(peaks.shape[2])):
            x1, y1, x2, y2 = boxes[b, k].tolist()
            px, py = peaks[b, j, p].tolist()
            dist = float((coarse[b, k, j] - peaks[b, j, p]).norm())
            if mask[b, k, j] and scores[b, j, p] >= score_thr and x1 <= px <= x2 \
                    and y1 <= py <= y2 and dist <= ratio * max(x2 - x1, y2 - y1):
                pairs.append((dist, k, p))
        used_dets, used_peaks = set(), set()
        for dist, k, p in sorted(pairs):
            if k not in used_dets and p not in used_peaks:
                taken[b, k, j] = p
                used_dets.add(k)
                used_peaks.add(p)
    return taken


def test_exclusive_equals_sequential_greedy():
    gen = torch.Generator().manual_seed(3)
    batch, num_dets, num_slots, num_peaks = 2, 7, 4, 6
    centers = torch.rand(batch, num_dets, 2, generator=gen) * 20
    sizes = 6 + torch.rand(batch, num_dets, 2, generator=gen) * 10
    boxes = torch.cat([centers - sizes / 2, centers + sizes / 2], -1)
    coarse = centers[:, :, None] + torch.randn(batch, num_dets, num_slots, 2, generator=gen) * 2
    peaks = torch.rand(batch, num_slots, num_peaks, 2, generator=gen) * 20
    scores = torch.rand(batch, num_slots, num_peaks, generator=gen)
    mask = torch.rand(batch, num_dets, num_slots, generator=gen) > 0.2
    out = group_keypoints_exclusive(coarse, mask, boxes, peaks, scores)
    reference = _greedy_reference(coarse, mask, boxes, peaks, scores)
    assert (reference >= 0).sum() > 10  # the scene does exercise matching
    assert torch.equal(out.snapped, reference >= 0)
    index = reference.clamp(min=0)
    expected = torch.where((reference >= 0)[..., None],
                           peaks.gather(2, index.transpose(1, 2)[..., None].expand(-1, -1, -1, 2))
                           .transpose(1, 2), coarse)
    torch.testing.assert_close(out.keypoints, expected)
    # one peak never serves two detections
    for b, j in itertools.product(range(batch), range(num_slots)):
        used = reference[b, :, j][reference[b, :, j] >= 0]
        assert used.unique().numel() == used.numel()


def test_grouping_rejects_bad_shapes():
    scene = _scene([[0, 0, 10, 10]], [[[5, 5]]], [[[5, 5]]], [[0.9]])
    scene['bboxes'] = scene['bboxes'][:, :, :3]
    for rule in RULES:
        with pytest.raises(ValueError, match='bboxes'):
            rule(**scene)


def test_exclusive_tie_goes_to_the_higher_scored_detection():
    # detections are sorted by score: at equal distance the lower index (higher score) wins
    scene = _scene([[0, 0, 10, 10], [0, 0, 10, 10]], [[[4, 5]], [[6, 5]]], [[[5, 5]]], [[0.9]])
    assert group_keypoints_exclusive(**scene).snapped.tolist() == [[[True], [False]]]
