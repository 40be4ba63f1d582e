# Copyright (c) deepmark_mm contributors. All rights reserved.
from .centernet_gaussian import centernet_gaussian_radius, draw_gaussians, gaussian_window_pixels
from .deepmark_decode import (GarmentDetections, LandmarkPeaks, PeakWindows, decode_garments,
                              decode_landmark_peaks, gather_at_pixels, landmark_weighted_scores,
                              peak_windows, pixel_major, sample_heatmap_at, weighted_vote,
                              window_votes)
from .deepmark_targets import DeepMarkTargets, build_deepmark_targets, stack_gt_instances
from .ground_truth_maps import BRANCHES, substitute_ground_truth
from .point_projection import project_bboxes, project_points
from .detection_decoding import (DecodeSettings, ScoredDetections, decode_detections,
                                 decode_prob_maps, gather_detections, rank_detections,
                                 score_detections, select_detections)
from .head_outputs import clamped_sigmoid, decode_inputs
from .img_meta import image_name, network_input_size, to_original_image
from .shared_channels import (channel_maps_to_slot_maps, head_channel_table, mirror_channel_maps,
                              slot_maps_to_channel_maps, swap_flipped_channels)

__all__ = [
    'centernet_gaussian_radius', 'draw_gaussians', 'gaussian_window_pixels', 'GarmentDetections',
    'LandmarkPeaks', 'PeakWindows',
    'decode_garments', 'decode_landmark_peaks', 'gather_at_pixels', 'landmark_weighted_scores',
    'peak_windows', 'pixel_major',
    'sample_heatmap_at', 'weighted_vote', 'window_votes',
    'DeepMarkTargets', 'build_deepmark_targets', 'stack_gt_instances', 'BRANCHES', 'substitute_ground_truth',
    'project_bboxes', 'project_points', 'DecodeSettings',
    'ScoredDetections', 'decode_prob_maps', 'gather_detections', 'rank_detections',
    'score_detections', 'decode_detections', 'select_detections', 'clamped_sigmoid',
    'decode_inputs', 'image_name', 'network_input_size', 'to_original_image',
    'channel_maps_to_slot_maps', 'head_channel_table', 'mirror_channel_maps',
    'slot_maps_to_channel_maps', 'swap_flipped_channels'
]
