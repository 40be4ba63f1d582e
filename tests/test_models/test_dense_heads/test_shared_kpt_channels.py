# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMarkHead(kpt_heatmap_channels=...): shared landmark heatmap channels."""
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401
from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, NUM_KEYPOINTS
from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
from deepmark_mm.datasets.shared_channel_table import (channel_flip_indices,
                                                       deepfashion2_semantic_channel_table)
from deepmark_mm.models.test_time_augs import fuse_flip_outputs
from deepmark_mm.models.task_modules import DeepMarkCodec


def decode_inputs(outputs, table):
    """The codec's ``prob_maps`` with the slot -> channel ``table``."""
    codec = DeepMarkCodec()
    codec.kpt_slot_to_channel = table
    return codec.prob_maps(outputs)


SEMANTIC = deepfashion2_semantic_channel_table()
IDENTITY = dict(slot_to_channel=list(range(NUM_KEYPOINTS)), num_channels=NUM_KEYPOINTS,
                source='identity table')


def _head(type='DeepMarkHead', seed=0, **kwargs):
    torch.manual_seed(seed)
    head = MODELS.build(dict(type=type, in_channels=8, feat_channels=8, **kwargs))
    head.init_weights()
    return head


def test_default_head_has_no_table_and_an_unchanged_state_dict():
    head = _head()
    assert head.codec.kpt_slot_to_channel is None and head.num_kpt_heatmap_channels == NUM_KEYPOINTS
    assert head.kpt_heatmap_head[0][-1].out_channels == NUM_KEYPOINTS
    assert not any('slot_to_channel' in key for key in head.state_dict())


def test_identity_table_is_bit_identical_to_the_default_head(two_images, perfect_outputs_of):
    """One channel per slot through the table path: same weights, targets, losses, detections."""
    gts, metas = two_images
    default, identity = _head(), _head(kpt_heatmap_channels=IDENTITY)
    assert identity.codec.kpt_slot_to_channel.tolist() == list(range(NUM_KEYPOINTS))
    for (name, a), (_, b) in zip(default.state_dict().items(), identity.state_dict().items()):
        assert torch.equal(a, b), name
    feats = (torch.rand(2, 8, 32, 32, generator=torch.Generator().manual_seed(3)), )
    outs_a, outs_b = default(feats), identity(feats)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(outs_a, outs_b))
    losses_a = default.loss_by_feat(*outs_a, gts, metas)
    losses_b = identity.loss_by_feat(*outs_b, gts, metas)
    assert all(torch.equal(losses_a[k], losses_b[k]) for k in losses_a)
    perfect = perfect_outputs_of(default, gts, metas, (32, 32))
    for res_a, res_b in zip(default.predict_by_feat(*perfect, batch_img_metas=metas),
                            identity.predict_by_feat(*perfect, batch_img_metas=metas)):
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'):
            assert torch.equal(res_a.get(key), res_b.get(key)), key


def test_semantic_head_shapes_and_targets(two_images):
    gts, metas = two_images
    head = _head(kpt_heatmap_channels='semantic')
    assert head.num_kpt_heatmap_channels == SEMANTIC.num_channels == 69
    outs = head((torch.rand(2, 8, 32, 32), ))
    assert outs[4][0].shape == (2, 69, 32, 32) and outs[3][0].shape[1] == 2 * NUM_KEYPOINTS
    targets = head.get_targets(gts, metas, (2, 13, 32, 32))
    per_slot = _head().get_targets(gts, metas, (2, 13, 32, 32))
    # channel g: the maximum over its slots' maps
    index = head.codec.kpt_slot_to_channel.view(1, -1, 1, 1).expand_as(per_slot.kpt_heatmap)
    expected = per_slot.kpt_heatmap.new_zeros(2, 69, 32, 32).scatter_reduce_(
        1, index, per_slot.kpt_heatmap, 'amax', include_self=False)
    assert torch.equal(targets.kpt_heatmap, expected)
    # every labelled landmark is a peak of 1 in its slot's channel
    assert int((targets.kpt_heatmap == 1).sum()) == per_slot.num_kpt_targets
    assert torch.equal(targets.kpt_offset, per_slot.kpt_offset)
    losses = head.loss_by_feat(*outs, gts, metas)
    assert all(torch.isfinite(value) for value in losses.values())


def test_semantic_perfect_outputs_decode_the_ground_truth(two_images, perfect_outputs_of):
    gts, metas = two_images
    head = _head(kpt_heatmap_channels='semantic')
    outs = perfect_outputs_of(head, gts, metas, (32, 32))
    assert outs[4][0].shape[1] == 69
    outs[3][0] = outs[3][0] + 0.6  # coarse landmarks 0.6 feature px off: peaks pull them back
    results = head.predict_by_feat(*outs, batch_img_metas=metas, rescale=False)
    for gt, result in zip(gts, results):
        assert int((result.scores > 0.5).sum()) == len(gt)
        for index in range(len(gt)):
            label = int(gt.labels[index])
            boxes = result.bboxes.clone()
            boxes[result.labels != label] = 1e6
            det = int((boxes - gt.bboxes.tensor[index]).abs().amax(-1).argmin())
            torch.testing.assert_close(result.bboxes[det], gt.bboxes.tensor[index], atol=1e-3,
                                       rtol=0)
            labelled = gt.keypoints_visible[index] > 0
            torch.testing.assert_close(result.keypoints[det][labelled],
                                       gt.keypoints[index][labelled], atol=1e-3, rtol=0)
            assert torch.all(result.keypoint_scores[det][labelled] > 0.99)
            start, end = KEYPOINT_SLICES[label]
            assert result.keypoints[det][:start].abs().sum() == 0
            assert result.keypoints[det][end:].abs().sum() == 0


def test_flip_fusion_on_the_slot_view_swaps_channels():
    """Fusing the per-slot view with the slot flip pairs = swapping the G channels by the channel
    flip permutation; a mirrored input's fused maps are the mirror; mirroring twice is identity."""
    table = torch.from_numpy(SEMANTIC.slot_to_channel.copy())
    channel_flip = torch.from_numpy(channel_flip_indices(SEMANTIC, deepfashion2_flip()))
    slot_flip = torch.from_numpy(deepfashion2_flip().copy())
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 69, 5, 8, generator=gen)
    mirrored = logits.flip(-1)[:, channel_flip]  # width flipped, channels swapped
    assert torch.equal(mirrored.flip(-1)[:, channel_flip], logits)

    def outputs(kpt_logits):  # other maps of a mirror-symmetric network: zeros / constants
        batch = kpt_logits.shape[0]
        return ([torch.zeros(batch, 13, 5, 8)], [torch.ones(batch, 2, 5, 8)],
                [torch.full((batch, 2, 5, 8), 0.5)], [torch.full((batch, 588, 5, 8), 0.5)],
                [kpt_logits], [torch.full((batch, 2, 5, 8), 0.5)])

    # the network saw x and mirror(x) and answered equivariantly: fusion returns x's maps
    maps = decode_inputs(outputs(torch.cat([logits, mirrored])), table)
    fused = fuse_flip_outputs(*maps, slot_flip)
    expected = decode_inputs(outputs(logits), table)[4]
    torch.testing.assert_close(fused.kpt_heatmap_probs, expected, atol=1e-7, rtol=0)
    # fused maps of the mirrored input equal the mirror of the original's
    fused_mirror = fuse_flip_outputs(*decode_inputs(outputs(torch.cat([mirrored, logits])),
                                                    table), slot_flip)
    torch.testing.assert_close(fused_mirror.kpt_heatmap_probs,
                               decode_inputs(outputs(mirrored), table)[4], atol=1e-7, rtol=0)
    # slot view of channel-swapped maps == slot-swapped slot view
    view = decode_inputs(outputs(logits), table)[4]
    swapped = decode_inputs(outputs(logits.index_select(1, channel_flip)), table)[4]
    assert torch.equal(swapped, view.index_select(1, slot_flip))


def test_tables_from_a_json_file_and_bad_tables(tmp_path):
    from auto_shared_channels import save_channel_table
    path = tmp_path / 'table.json'
    save_channel_table(SEMANTIC, str(path))
    head = _head(kpt_heatmap_channels=str(path))
    assert torch.equal(head.codec.kpt_slot_to_channel,
                       torch.from_numpy(SEMANTIC.slot_to_channel.copy()))
    shared = np.arange(NUM_KEYPOINTS)
    shared[1] = 0  # two slots of short sleeve top on one channel
    bad = dict(slot_to_channel=shared.tolist(), num_channels=NUM_KEYPOINTS, source='bad table')
    with pytest.raises(ValueError, match=r'bad table: channels \[1\] are used by no slot'):
        _head(kpt_heatmap_channels=bad)
    bad['num_channels'] = NUM_KEYPOINTS - 1
    bad['slot_to_channel'] = [g if g < 1 else g - 1 for g in range(NUM_KEYPOINTS)]
    with pytest.raises(ValueError, match=r'slots \[0, 1\] of category 0 share channel 0'):
        _head(kpt_heatmap_channels=bad)
    with pytest.raises(ValueError, match='expected a KeypointChannelTable'):
        _head(kpt_heatmap_channels=3)


def test_cpu_training_head_takes_the_option(two_images):
    gts, metas = two_images
    dense = _head(kpt_heatmap_channels='semantic')
    sparse = _head('SparseRegressionDeepMarkHead', kpt_heatmap_channels='semantic')
    sparse.load_state_dict(dense.state_dict())
    feats = (torch.randn(2, 8, 32, 32, generator=torch.Generator().manual_seed(1)), )
    samples = [DetDataSample(gt_instances=gt, metainfo=meta) for gt, meta in zip(gts, metas)]
    losses = [head.loss(feats, samples) for head in (dense, sparse)]
    for key in losses[0]:
        torch.testing.assert_close(losses[1][key], losses[0][key], rtol=1e-5, atol=1e-6)


def test_table_flip_check_uses_the_heads_flip_indices():
    """A table for another landmark set is checked against the head's ``flip_indices``: in the
    toy set (4 / 6 / 5 slots; square 0 <-> 1, hexagon 6 <-> 9) square slot 0 and hexagon slot 6
    on one channel is refused once the head knows the flip pairs (their mirrors 1 and 9 are on
    two channels) and accepted without them; sharing the mirrors too is accepted."""
    slices = [[0, 4], [4, 10], [10, 15]]
    flip = [1, 0, 3, 2, 5, 4, 9, 8, 7, 6, 10, 14, 13, 12, 11]
    toy = dict(num_classes=3, num_keypoints=15, keypoint_slices=slices)
    channels = [0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10, 11, 12, 13]
    table = dict(slot_to_channel=channels, num_channels=14, source='toy table')
    assert _head(kpt_heatmap_channels=table, **toy).num_kpt_heatmap_channels == 14
    with pytest.raises(ValueError, match='toy table: not flip-consistent: slots 0 and 6 share '
                                         'channel 0'):
        _head(kpt_heatmap_channels=table, flip_indices=flip, **toy)
    channels = [0, 1, 2, 3, 4, 5, 0, 6, 7, 1, 8, 9, 10, 11, 12]
    table = dict(slot_to_channel=channels, num_channels=13, source='toy table')
    head = _head(kpt_heatmap_channels=table, flip_indices=flip, **toy)
    assert head.codec.kpt_slot_to_channel.tolist() == channels
