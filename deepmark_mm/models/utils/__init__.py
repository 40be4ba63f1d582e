# Copyright (c) deepmark_mm contributors. All rights reserved.
from .branch_at_pixels import (BranchAtPixels, NeighbourhoodCache, conv3x3_relu_conv1x1_at_pixels,
                               conv3x3_relu_conv1x1_on_patches, is_conv3x3_relu_conv1x1,
                               neighbourhood_patches)
from .centernet_gaussian import centernet_gaussian_radius, draw_gaussians, gaussian_window_pixels
from .deepmark_decode import (GarmentDetections, LandmarkPeaks, PeakWindows, decode_garments,
                              decode_landmark_peaks, gather_at_pixels, landmark_weighted_scores,
                              peak_windows, pixel_major, sample_heatmap_at, weighted_vote,
                              window_votes)
from .deepmark_targets import DeepMarkTargets, build_deepmark_targets
from .ground_truth_maps import BRANCHES, substitute_ground_truth
from .landmark_grouping import GroupedLandmarks, group_landmarks_exclusive, group_landmarks_nearest
from .point_projection import project_bboxes, project_points
from .scored_detections import (DecodeSettings, ScoredDetections, decode_prob_maps,
                                gather_detections, rank_detections, score_detections)

__all__ = [
    'BranchAtPixels', 'NeighbourhoodCache', 'conv3x3_relu_conv1x1_at_pixels',
    'conv3x3_relu_conv1x1_on_patches', 'is_conv3x3_relu_conv1x1', 'neighbourhood_patches',
    'centernet_gaussian_radius', 'draw_gaussians', 'gaussian_window_pixels', 'GarmentDetections',
    'LandmarkPeaks', 'PeakWindows',
    'decode_garments', 'decode_landmark_peaks', 'gather_at_pixels', 'landmark_weighted_scores',
    'peak_windows', 'pixel_major',
    'sample_heatmap_at', 'weighted_vote', 'window_votes',
    'DeepMarkTargets', 'build_deepmark_targets', 'BRANCHES', 'substitute_ground_truth',
    'GroupedLandmarks', 'group_landmarks_exclusive',
    'group_landmarks_nearest', 'project_bboxes', 'project_points', 'DecodeSettings',
    'ScoredDetections', 'decode_prob_maps', 'gather_detections', 'rank_detections',
    'score_detections'
]
