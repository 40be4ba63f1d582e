# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Cheap C-contiguous copies of flipped image views."""
import cv2
import numpy as np


def contiguous_image(img: np.ndarray) -> np.ndarray:
    """(H, W[, C]) ``img`` itself when C-contiguous, else a contiguous copy: the negative-stride
    views of mmcv's ``imflip`` via ``cv2.flip`` of the base (numpy copies them pixel by pixel)."""
    if img.flags.c_contiguous:
        return img
    flip_x = img.strides[1] < 0
    flip_y = img.strides[0] < 0
    if flip_x or flip_y:
        base = img[::-1 if flip_y else 1, ::-1 if flip_x else 1]
        if base.flags.c_contiguous and (base.ndim == 2 or base.ndim == 3 and base.shape[2] <= 4):
            return cv2.flip(base, -1 if flip_x and flip_y else (1 if flip_x else 0))
    return np.ascontiguousarray(img)
