# Copyright (c) deepmark_mm contributors. All rights reserved.
import copy

import numpy as np
import pytest
import torch

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES, flip_indices
from deepmark_mm.structures import BBoxKeypoints

SHORT_SLEEVE_TOP = 0
SLEEVE_END_LEFT, SLEEVE_END_RIGHT = 8, 22  # local 9 <-> 23 (1-based) of the short sleeve top


def random_boxes(num: int = 3, seed: int = 0, width: int = 200, height: int = 150):
    """Boxes of categories 0, 1, 2... with their own slots labelled (mixed visibility)."""
    rng = np.random.default_rng(seed)
    x1y1 = rng.uniform(0, 60, size=(num, 2))
    boxes = np.concatenate([x1y1, x1y1 + rng.uniform(20, 80, size=(num, 2))], axis=1)
    keypoints = np.zeros((num, 294, 2), dtype=np.float32)
    visible = np.zeros((num, 294), dtype=np.int64)
    for i in range(num):
        start, end = KEYPOINT_SLICES[i % 13]
        keypoints[i, start:end] = rng.uniform([0, 0], [width, height], size=(end - start, 2))
        visible[i, start:end] = rng.integers(0, 3, size=end - start)
    return BBoxKeypoints(boxes, keypoints=keypoints, keypoints_visible=visible,
                         flip_indices=flip_indices())


def test_unlabelled_slots_hold_zeros():
    boxes = random_boxes()
    unlabelled = boxes.keypoints_visible == 0
    assert unlabelled.any()
    assert (boxes.keypoints[unlabelled] == 0).all()


def test_horizontal_flip_twice_is_identity():
    boxes = random_boxes()
    flipped = boxes.clone()
    flipped.flip_((150, 200), 'horizontal')
    assert not torch.allclose(flipped.keypoints, boxes.keypoints)
    flipped.flip_((150, 200), 'horizontal')
    torch.testing.assert_close(flipped.tensor, boxes.tensor)
    torch.testing.assert_close(flipped.keypoints, boxes.keypoints)
    assert torch.equal(flipped.keypoints_visible, boxes.keypoints_visible)


def test_flip_swaps_pairs_with_mirrored_coordinates():
    boxes = random_boxes()
    flipped = boxes.clone()
    flipped.flip_((150, 200), 'horizontal')
    flip = torch.as_tensor(np.array(flip_indices()))
    labelled = boxes.keypoints_visible > 0
    # slot flip[j] of the flipped boxes holds slot j of the original, mirrored: x' = W - x
    expected_x = torch.where(labelled, 200 - boxes.keypoints[..., 0], torch.zeros(()))
    torch.testing.assert_close(flipped.keypoints[:, flip, 0], expected_x)
    torch.testing.assert_close(flipped.keypoints[:, flip, 1], boxes.keypoints[..., 1])
    assert torch.equal(flipped.keypoints_visible[:, flip], boxes.keypoints_visible)
    # boxes follow mmdet's HorizontalBoxes convention
    torch.testing.assert_close(flipped.tensor[:, 0], 200 - boxes.tensor[:, 2])


def test_left_sleeve_lands_in_right_sleeve_slot():
    keypoints = np.zeros((1, 294, 2), dtype=np.float32)
    visible = np.zeros((1, 294), dtype=np.int64)
    keypoints[0, SLEEVE_END_LEFT] = (30.0, 50.0)
    visible[0, SLEEVE_END_LEFT] = 2
    boxes = BBoxKeypoints([[10., 20., 120., 140.]], keypoints=keypoints,
                          keypoints_visible=visible, flip_indices=flip_indices())
    boxes.flip_((160, 200), 'horizontal')
    assert boxes.keypoints_visible[0, SLEEVE_END_RIGHT] == 2
    assert boxes.keypoints_visible[0, SLEEVE_END_LEFT] == 0
    assert boxes.keypoints[0, SLEEVE_END_RIGHT].tolist() == [170.0, 50.0]


def test_vertical_flip_keeps_slots():
    boxes = random_boxes()
    flipped = boxes.clone()
    flipped.flip_((150, 200), 'vertical')
    labelled = boxes.keypoints_visible > 0
    torch.testing.assert_close(flipped.keypoints[..., 1][labelled],
                               150 - boxes.keypoints[..., 1][labelled])
    assert torch.equal(flipped.keypoints_visible, boxes.keypoints_visible)


@pytest.mark.parametrize('index', [
    np.array([True, False, True]),
    torch.tensor([2, 0]),
    slice(1, 3),
    1,
    -1,
])
def test_indexing_keeps_boxes_and_landmarks_together(index):
    boxes = random_boxes()
    picked = boxes[index]
    rows = np.arange(3)[index] if not isinstance(index, torch.Tensor) else index.numpy()
    rows = np.atleast_1d(rows)
    assert isinstance(picked, BBoxKeypoints)
    torch.testing.assert_close(picked.tensor, boxes.tensor[rows])
    torch.testing.assert_close(picked.keypoints, boxes.keypoints[rows])
    assert torch.equal(picked.keypoints_visible, boxes.keypoints_visible[rows])
    assert torch.equal(picked.flip_indices, boxes.flip_indices)


def test_cat_and_deepcopy():
    boxes = random_boxes()
    joined = BBoxKeypoints.cat([boxes[:1], boxes[1:]])
    torch.testing.assert_close(joined.keypoints, boxes.keypoints)
    copied = copy.deepcopy(boxes)
    copied.translate_((5, 5))
    assert not torch.allclose(copied.tensor, boxes.tensor)
    other = random_boxes()
    other.flip_indices = torch.arange(294)
    with pytest.raises(ValueError, match='flip_indices'):
        BBoxKeypoints.cat([boxes, other])


def test_translate_rescale_resize_project_move_landmarks():
    boxes = random_boxes()
    labelled = (boxes.keypoints_visible > 0).unsqueeze(-1)
    moved = boxes.clone()
    moved.translate_((7., -3.))
    torch.testing.assert_close(moved.keypoints,
                               (boxes.keypoints + torch.tensor([7., -3.])) * labelled)
    scaled = boxes.clone()
    scaled.rescale_((0.5, 2.0))
    torch.testing.assert_close(scaled.keypoints, boxes.keypoints * torch.tensor([0.5, 2.0]))
    resized = boxes.clone()
    resized.resize_((2.0, 2.0))
    centers = boxes.centers[:, None]
    torch.testing.assert_close(resized.keypoints,
                               (centers + 2 * (boxes.keypoints - centers)) * labelled)
    homography = np.array([[1.5, 0., 10.], [0., 1.5, -4.], [0., 0., 1.]], dtype=np.float32)
    projected = boxes.clone()
    projected.project_(homography)
    expected = (boxes.keypoints * 1.5 + torch.tensor([10., -4.])) * labelled
    torch.testing.assert_close(projected.keypoints, expected)
    torch.testing.assert_close(projected.tensor, boxes.tensor * 1.5 + torch.tensor(
        [10., -4., 10., -4.]))


def test_rotate_matches_box_corners_rotation():
    boxes = random_boxes(num=1)
    rotated = boxes.clone()
    rotated.rotate_((100., 75.), 90.)
    # 90 degrees clockwise about (100, 75): (x, y) -> (100 - (y - 75), 75 + (x - 100))
    labelled = boxes.keypoints_visible[0] > 0
    x, y = boxes.keypoints[0, labelled].unbind(-1)
    expected = torch.stack([100 - (y - 75), 75 + (x - 100)], dim=-1)
    torch.testing.assert_close(rotated.keypoints[0, labelled], expected, atol=1e-4, rtol=0)


def test_clip_unlabels_landmarks_outside_the_image():
    keypoints = np.array([[[5., 5.], [-1., 10.], [50., 41.], [50., 40.]]], dtype=np.float32)
    boxes = BBoxKeypoints([[-10., 0., 70., 60.]], keypoints=keypoints,
                          keypoints_visible=[[2, 1, 2, 1]])
    boxes.clip_((40, 60))
    assert boxes.keypoints_visible.tolist() == [[2, 0, 0, 1]]
    assert boxes.keypoints[0, 1].tolist() == [0., 0.]
    assert boxes.tensor.tolist() == [[0., 0., 60., 40.]]


def test_unlabel_outside_leaves_boxes_alone():
    keypoints = np.array([[[5., 5.], [61., 10.]]], dtype=np.float32)
    boxes = BBoxKeypoints([[-10., 0., 70., 60.]], keypoints=keypoints,
                          keypoints_visible=[[2, 2]])
    boxes.unlabel_outside_((40, 60))
    assert boxes.keypoints_visible.tolist() == [[2, 0]]
    assert boxes.tensor.tolist() == [[-10., 0., 70., 60.]]


def test_empty_and_shape_errors():
    empty = random_boxes().empty_boxes()
    assert empty.keypoints.shape == (0, 294, 2) and len(empty) == 0
    with pytest.raises(ValueError, match='keypoints'):
        BBoxKeypoints([[0., 0., 1., 1.]], keypoints=np.zeros((2, 294, 2)))
    with pytest.raises(ValueError, match='permutation'):
        BBoxKeypoints([[0., 0., 1., 1.]], keypoints=np.zeros((1, 3, 2)), flip_indices=[0, 0, 1])
    with pytest.raises(ValueError, match='own inverse'):
        BBoxKeypoints([[0., 0., 1., 1.]], keypoints=np.zeros((1, 3, 2)), flip_indices=[1, 2, 0])
    with pytest.raises(NotImplementedError):
        random_boxes().reshape(-1, 4)
    with pytest.raises(NotImplementedError):
        random_boxes().split(1)  # mmdet's split would drop the landmarks


def test_boxes_without_landmark_slots_index_and_empty():
    """K = 0 (a box list with no landmark slots): indexing and empty_boxes keep the shapes."""
    boxes = BBoxKeypoints([[0., 0., 4., 4.], [1., 1., 5., 6.]], keypoints=np.zeros((2, 0, 2)),
                          keypoints_visible=np.zeros((2, 0)), flip_indices=[])
    assert tuple(boxes[:1].keypoints.shape) == (1, 0, 2)
    assert tuple(boxes[torch.tensor([False, True])].keypoints_visible.shape) == (1, 0)
    empty = boxes.empty_boxes()
    assert tuple(empty.tensor.shape) == (0, 4) and tuple(empty.keypoints.shape) == (0, 0, 2)
    assert torch.equal(BBoxKeypoints.cat([boxes, boxes[1:]]).tensor[2], boxes.tensor[1])
