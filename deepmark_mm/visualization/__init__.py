# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_visualizer import DeepMarkVisualizer, GarmentKeypointStyle, garment_keypoint_style

__all__ = ['DeepMarkVisualizer', 'GarmentKeypointStyle', 'garment_keypoint_style']
