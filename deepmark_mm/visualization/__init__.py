# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_visualizer import DeepMarkVisualizer, GarmentLandmarkStyle, garment_landmark_style

__all__ = ['DeepMarkVisualizer', 'GarmentLandmarkStyle', 'garment_landmark_style']
