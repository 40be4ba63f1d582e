# Copyright (c) deepmark_mm contributors. All rights reserved.
"""DeepMarkTTAModel on a small randomly initialised detector."""
import copy

import pytest
import torch
from mmdet.registry import MODELS

from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices as deepfashion2_flip
from deepmark_mm.models.test_time_augs import DeepMarkTTAModel, merge_view_detections

SIDE = 64


def random_images(num: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, SIDE, SIDE), generator=gen).float() for _ in range(num)]


def predict(tta, batch):
    with torch.no_grad():
        return [sample.pred_instances for sample in tta.test_step(batch)]


def assert_mirrored(pred, mirror_pred, width):
    """``mirror_pred`` is ``pred`` seen in the mirrored image (x' = width - x, slots swapped)."""
    assert len(pred) == len(mirror_pred) > 0
    torch.testing.assert_close(mirror_pred.scores, pred.scores, atol=1e-5, rtol=0)
    assert torch.equal(mirror_pred.labels, pred.labels)
    boxes = pred.bboxes
    mirrored_boxes = torch.stack(
        [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
    torch.testing.assert_close(mirror_pred.bboxes, mirrored_boxes, atol=2e-3, rtol=0)
    flip = torch.from_numpy(deepfashion2_flip().copy())
    own = pred.keypoint_scores > 0
    assert own.any()
    # slot j of the mirrored prediction is slot flip[j] of the prediction, x mirrored
    expected = pred.keypoints[:, flip].clone()
    expected[..., 0] = width - expected[..., 0]
    own_mirrored = own[:, flip]
    torch.testing.assert_close(
        mirror_pred.keypoints[own_mirrored], expected[own_mirrored], atol=2e-3, rtol=0)
    torch.testing.assert_close(
        mirror_pred.keypoint_scores, pred.keypoint_scores[:, flip], atol=1e-5, rtol=0)


@pytest.mark.parametrize('pool_factors', [(1, ), (1, 2)], ids=['one-scale', 'two-scales'])
def test_flip_tta_of_mirrored_image_is_mirrored(small_detector, tta_batch_of, pool_factors):
    """TTA(mirror(X)) == mirror(TTA(X)): the same two forwards swapped. The offsets come from
    the unflipped half (CenterNet), so they are made mirror-invariant here: dx = dy = 0.5."""
    detector = copy.deepcopy(small_detector)  # a session fixture: not changed in place
    head = detector.bbox_head
    with torch.no_grad():
        for branch in (*head.offset_head, *head.kpt_offset_head):
            branch[-1].weight.zero_()
            branch[-1].bias.fill_(0.5)
    tta = DeepMarkTTAModel(detector, flip=True).eval()
    images = random_images(2)
    preds = predict(tta, tta_batch_of(images, pool_factors))
    mirror_preds = predict(tta, tta_batch_of([img.flip(-1) for img in images], pool_factors))
    for pred, mirror_pred in zip(preds, mirror_preds):
        assert len(pred) == small_detector.bbox_head.test_cfg['max_per_img']
        assert_mirrored(pred, mirror_pred, SIDE)
        if len(pool_factors) > 1:  # soft-NMS decayed some scores of the merged views
            assert bool((pred.scores[:-1] >= pred.scores[1:]).all())


def test_without_flip_or_nms_it_is_the_plain_detector(small_detector, tta_batch_of):
    tta = DeepMarkTTAModel(small_detector, flip=False).eval()
    images = random_images(2, seed=1)
    batch = tta_batch_of(images)
    tta_preds = predict(tta, batch)
    data = small_detector.data_preprocessor(
        dict(inputs=batch['inputs'][0], data_samples=batch['data_samples'][0]), False)
    with torch.no_grad():
        plain = small_detector.predict(data['inputs'], data['data_samples'], rescale=True)
    for tta_pred, sample in zip(tta_preds, plain):
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'):
            torch.testing.assert_close(tta_pred[key], sample.pred_instances[key], msg=key)


def test_nms_alone_soft_suppresses_the_plain_detections(small_detector, tta_batch_of):
    images = random_images(1, seed=2)
    plain = predict(DeepMarkTTAModel(small_detector, flip=False).eval(), tta_batch_of(images))[0]
    nms = predict(
        DeepMarkTTAModel(small_detector, flip=False, nms=True).eval(), tta_batch_of(images))[0]
    expected = merge_view_detections([plain], max_per_img=len(plain))
    for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'):
        torch.testing.assert_close(nms[key], expected[key], msg=key)
    decayed = nms.scores < plain.scores[:len(nms)] - 1e-6
    assert decayed.any(), 'random boxes of 6 feature px overlap: some scores must decay'


def test_flip_runs_one_forward_of_both_halves(small_detector, tta_batch_of):
    """Flip fusion costs one batched forward per view: [x, flip(x)] as 2B images."""
    batch_sizes = []
    hook = small_detector.backbone.register_forward_hook(
        lambda module, args, output: batch_sizes.append(args[0].shape[0]))
    try:
        images = random_images(3, seed=4)
        predict(DeepMarkTTAModel(small_detector).eval(), tta_batch_of(images, (1, 2)))
    finally:
        hook.remove()
    assert batch_sizes == [6, 6]


def test_configuration_errors(small_detector):
    with pytest.raises(TypeError, match='DeepMarkHead'):
        DeepMarkTTAModel(DeepMarkTTAModel(small_detector))
    with pytest.raises(ValueError, match='own inverse'):
        DeepMarkTTAModel(small_detector, flip_indices=[(j + 1) % 294 for j in range(294)])
    with pytest.raises(TypeError, match='DeepMarkHead'):
        DeepMarkTTAModel(_NoDetector())
    tta = DeepMarkTTAModel(small_detector)
    with pytest.raises(TypeError, match='TestTimeAug'):
        tta.test_step(dict(inputs=random_images(1), data_samples=[None]))
    assert MODELS.get('DeepMarkTTAModel') is DeepMarkTTAModel


class _PoolingDetector(torch.nn.Module):
    """Stride-``stride`` average pooling (ceil mode) feeding a tiny DeepMarkHead."""

    def __init__(self, stride: int, **head_kwargs):
        super().__init__()
        self.stride = stride
        self.data_preprocessor = torch.nn.Identity()
        self.bbox_head = MODELS.build(
            dict(type='DeepMarkHead', in_channels=3, feat_channels=4, **head_kwargs))

    def extract_feat(self, inputs):
        return (torch.nn.functional.avg_pool2d(inputs, self.stride, ceil_mode=True), )

    def test_step(self, data):
        return data


def test_flip_needs_cells_that_mirror_onto_cells(tta_batch_of):
    tta = DeepMarkTTAModel(_PoolingDetector(stride=4)).eval()
    batch = tta_batch_of(random_images(1))
    samples = batch['data_samples'][0]
    with torch.no_grad():
        assert len(tta.predict_view(torch.rand(1, 3, 64, 64), samples)[0]) > 0
        with pytest.raises(ValueError, match=r'input width \(66\).*feature width \(17\)'):
            tta.predict_view(torch.rand(1, 3, 64, 66), samples)


def test_other_landmark_sets_need_their_flip_indices():
    slices = [[0, 2], [2, 5]]
    with pytest.raises(ValueError, match='pass flip_indices'):
        DeepMarkTTAModel(
            _PoolingDetector(4, num_classes=2, num_keypoints=5, keypoint_slices=slices))
    tta = DeepMarkTTAModel(
        _PoolingDetector(4, num_classes=2, num_keypoints=5, keypoint_slices=slices),
        flip_indices=[1, 0, 2, 4, 3])
    assert tta.flip_indices.tolist() == [1, 0, 2, 4, 3]


class _NoDetector(torch.nn.Module):
    """A module with ``test_step`` but no detector parts."""

    def __init__(self):
        super().__init__()

    def test_step(self, data):
        return data
