# Copyright (c) deepmark_mm contributors. All rights reserved.
from .deepmark_visualizer import DeepMarkVisualizer
from .landmark_style import GarmentLandmarkStyle, garment_landmark_style

__all__ = ['DeepMarkVisualizer', 'GarmentLandmarkStyle', 'garment_landmark_style']
