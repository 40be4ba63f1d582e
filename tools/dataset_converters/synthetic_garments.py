# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Garment templates for the synthetic DeepFashion2 set: one silhouette per category whose
landmarks sit on its outline (shoulders, sleeve ends, armpits, hem corners, waist corners...).

A template lives in a garment frame (x to the image right, y down, garment top at y = 0, chest
half-width about 0.28). Every left/right landmark pair is a point and its mirror (x -> -x),
centred landmarks lie on x = 0, and the lower slot of a pair is on the image left, so a
template's symmetry is exactly DeepFashion2's flip permutation.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from deepmark_mm.datasets.deepfashion2_metainfo import KEYPOINT_SLICES

Point = Tuple[float, float]
NECK_SLOTS = ['back_neck', 'neck_side.L', 'collar.L', 'front_neck', 'collar.R', 'neck_side.R']


@dataclass
class GarmentTemplate:
    """A garment in its own frame.

    Attributes:
        label (int): 0-based category.
        points (dict[str, np.ndarray]): Named (2,) points; ``.L`` / ``.R`` names are mirror pairs.
        slots (list[str]): Point name of each of the category's landmarks, in slot order.
        silhouette (list[str]): Outline polygon (the garment's extent and mask).
        layers (list[tuple[list[str], str]]): Polygons drawn in order with a shade
            (``'main'``, ``'dark'`` lining/inside, ``'band'`` waistband).
    """
    label: int
    points: Dict[str, np.ndarray]
    slots: List[str]
    silhouette: List[str]
    layers: List[Tuple[List[str], str]]

    def landmarks(self) -> np.ndarray:
        """(n, 2) landmark coordinates in slot order."""
        return np.stack([self.points[name] for name in self.slots])


#: Draws a template parameter ``(mean, spread) -> value``.
_Params = Callable[[float, float], float]


def _mirror(points: Dict[str, Point]) -> Dict[str, np.ndarray]:
    """Add the ``.R`` mirror image of every ``.L`` point; centred points are put on x = 0."""
    full = {}
    for name, (x, y) in points.items():
        if name.endswith('.L'):
            full[name] = np.array([x, y], dtype=np.float64)
            full[name[:-2] + '.R'] = np.array([-x, y], dtype=np.float64)
        else:
            full[name] = np.array([0.0, y], dtype=np.float64)
    return full


def _lerp(a: Point, b: Point, t: float, bulge: float = 0.0) -> Point:
    """Point at fraction ``t`` from ``a`` to ``b``, pushed ``bulge`` along ``(dy, -dx)``."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length = max(np.hypot(dx, dy), 1e-9)
    nx, ny = dy / length, -dx / length
    return ax + t * dx + bulge * nx, ay + t * dy + bulge * ny


def _chain(side: str, names: Sequence[str]) -> List[str]:
    return [f'{name}.{side}' for name in names]


def _side_seam(armpit: Point, hem_corner: Point, count: int, body: str, p: _Params) -> List[Point]:
    """Left side-seam landmarks between armpit and hem corner: tops evenly spaced, pulled in a
    little; dresses a narrow waist, the hips, then points along the flared skirt."""
    if body == 'top':
        inward = [0.02, 0.015] if count == 2 else [0.02]
        points = []
        for k in range(count):
            x, y = _lerp(armpit, hem_corner, (k + 1) / (count + 1))
            points.append((x + inward[k], y))
        return points
    waist = (-p(0.21, 0.02), 0.50)
    hip = (-p(0.28, 0.02), 0.72)
    points = [waist, hip]
    for k in range(count - 2):
        x, y = _lerp(hip, hem_corner, (k + 1) / (count - 1))
        points.append((x - 0.02, y))
    return points


def _upper_body(label: int, p: _Params, sleeve: str, body: str, open_front: bool,
                sleeveless: str = '') -> GarmentTemplate:
    """Tops, outwear (``open_front``: two panels over a lining strip), vests and slings
    (``sleeveless``) and dresses (``body='dress'``); ``sleeve`` is short, long or ''."""
    pts: Dict[str, Point] = {}
    neck_half = p(0.11, 0.015)
    pts['neck_side.L'] = (-neck_half, 0.0)
    if sleeveless == 'sling':
        pts['back_neck'] = (0.0, p(0.16, 0.03))
        front_depth = p(0.30, 0.03)
    else:
        pts['back_neck'] = (0.0, p(0.04, 0.01))
        front_depth = p(0.16, 0.02) if not open_front else p(0.14, 0.02)
    pts['collar.L'] = (-0.55 * neck_half, 0.65 * front_depth)
    pts['front_neck'] = (0.0, front_depth)
    height = {'top': p(0.85, 0.05), 'dress': p(1.45, 0.08)}[body]
    if open_front:
        height += 0.08
    chest = p(0.27, 0.02)
    chain_names: List[str] = []
    extra_left: List[str] = []  # silhouette-only vertices between shoulder and armpit
    if sleeve:
        shoulder = (-p(0.31, 0.02), p(0.05, 0.01))
        armpit = (-chest, p(0.27, 0.02))
        angle = np.deg2rad(p(40.0, 8.0) if sleeve == 'short' else p(63.0, 6.0))
        length = p(0.22, 0.03) if sleeve == 'short' else p(0.62, 0.05)
        width = p(0.17, 0.02) if sleeve == 'short' else p(0.13, 0.015)
        direction = np.array([-np.cos(angle), np.sin(angle)])
        normal = np.array([np.sin(angle), np.cos(angle)])  # towards the body / down
        cuff_out = np.asarray(shoulder) + length * direction
        cuff_in = cuff_out + width * normal
        pts.update({'shoulder.L': shoulder, 'cuff_out.L': tuple(cuff_out),
                    'cuff_in.L': tuple(cuff_in), 'armpit.L': armpit})
        num_sleeve = 1 if sleeve == 'short' else 3
        outer, inner = [], []
        for k in range(num_sleeve):
            t = (k + 1) / (num_sleeve + 1)
            pts[f'sleeve_out{k}.L'] = _lerp(shoulder, tuple(cuff_out), t, bulge=-0.02)
            pts[f'sleeve_in{k}.L'] = _lerp(tuple(cuff_in), armpit, t, bulge=-0.015)
            outer.append(f'sleeve_out{k}')
            inner.append(f'sleeve_in{k}')
        chain_names = ['shoulder'] + outer + ['cuff_out', 'cuff_in'] + inner + ['armpit']
    else:
        strap = 0.10 if sleeveless == 'vest' else 0.035
        strap = p(strap, 0.01 if sleeveless == 'vest' else 0.005)
        shoulder_y = p(0.02, 0.01)
        pts['shoulder.L'] = (-(neck_half + strap), shoulder_y)
        if sleeveless == 'vest':
            pts['armhole.L'] = (-(neck_half + 0.05), p(0.22, 0.02))
            armpit = (-chest, p(0.34, 0.02))
        else:
            pts['armhole.L'] = (-(neck_half + strap + 0.01), p(0.24, 0.02))
            armpit = (-chest, p(0.31, 0.02))
        pts['armpit.L'] = armpit
        chain_names = ['shoulder', 'armpit']
        extra_left = ['armhole']
    hem_half = {'top': p(0.28, 0.02), 'dress': p(0.46, 0.04)}[body]
    hem_corner = (-hem_half, height)
    num_side = {('top', 'short'): 2, ('top', 'long'): 2, ('top', ''): 1,
                ('dress', 'short'): 4, ('dress', 'long'): 4, ('dress', ''): 3}[(body, sleeve)]
    side_names = [f'side{k}' for k in range(num_side)]
    side_points = _side_seam(pts['armpit.L'], hem_corner, num_side, body, p)
    pts.update({f'{name}.L': point for name, point in zip(side_names, side_points)})
    pts['hem_corner.L'] = hem_corner
    chain_names = chain_names + side_names + ['hem_corner']
    left_chain = _chain('L', chain_names)
    right_chain = list(reversed(_chain('R', chain_names)))
    left_outline = left_chain[:1] + _chain('L', extra_left) + left_chain[1:]
    right_outline = right_chain[:-1] + _chain('R', extra_left) + right_chain[-1:]
    neck_loop = ['neck_side.L', 'back_neck', 'neck_side.R', 'collar.R', 'front_neck', 'collar.L']
    if not open_front:
        pts['hem_center'] = (0.0, height + p(0.03, 0.01))
        points = _mirror(pts)
        slots = NECK_SLOTS + left_chain + ['hem_center'] + right_chain
        silhouette = ['neck_side.L'] + left_outline + ['hem_center'] + right_outline + \
            ['neck_side.R', 'back_neck']
        layers = [(silhouette, 'main'), (neck_loop, 'dark')]
        return GarmentTemplate(label, points, slots, silhouette, layers)
    gap = p(0.035, 0.008)
    lapel_y = p(0.30, 0.03)
    pts['lapel.L'] = (-gap, lapel_y)
    pts['hem_open.L'] = (-gap, height + 0.02)
    pts['open_upper.L'] = (-gap - 0.006, lapel_y + (height - lapel_y) / 3)
    pts['open_lower.L'] = (-gap - 0.006, lapel_y + 2 * (height - lapel_y) / 3)
    points = _mirror(pts)
    # slot 6 and the slot after the right chain: short sleeve outwear pairs (2, 26), (3, 5),
    # (4, 6); long sleeve outwear (2, 6), (3, 5), (4, 34)
    six, after = ('lapel.R', 'neck_side.R') if sleeve == 'short' else ('neck_side.R', 'lapel.R')
    slots = ['back_neck', 'neck_side.L', 'collar.L', 'lapel.L', 'collar.R', six] + left_chain + \
        ['hem_open.L'] + right_chain + \
        [after, 'open_upper.L', 'open_lower.L', 'hem_open.R', 'open_upper.R', 'open_lower.R']
    silhouette = ['neck_side.L'] + left_outline + ['hem_open.L', 'hem_open.R'] + right_outline + \
        ['neck_side.R', 'back_neck']
    left_panel = ['neck_side.L'] + left_outline + \
        ['hem_open.L', 'open_lower.L', 'open_upper.L', 'lapel.L', 'collar.L']
    right_panel = [name[:-2] + '.R' for name in left_panel]
    layers = [(silhouette, 'dark'), (left_panel, 'main'), (right_panel, 'main')]
    return GarmentTemplate(label, points, slots, silhouette, layers)


def _lower_body(label: int, p: _Params, kind: str) -> GarmentTemplate:
    """Shorts, trousers and skirts (waist corners 1, 3, waist centre 2)."""
    pts: Dict[str, Point] = {}
    waist = p(0.26, 0.02)
    pts['waist.L'] = (-waist, 0.0)
    pts['waist_center'] = (0.0, p(0.015, 0.005))
    band = p(0.06, 0.01)
    if kind == 'skirt':
        height = p(0.72, 0.06)
        pts['hip.L'] = (-(waist + p(0.04, 0.01)), p(0.16, 0.02))
        pts['hem_corner.L'] = (-p(0.43, 0.04), height)
        pts['hem_center'] = (0.0, height + p(0.03, 0.01))
        chain = ['hip', 'hem_corner']
        middle = ['hem_center']
    elif kind == 'shorts':
        height = p(0.46, 0.04)
        pts['hip.L'] = (-(waist + p(0.04, 0.01)), p(0.14, 0.02))
        pts['hem_out.L'] = (-p(0.35, 0.03), height)
        pts['hem_in.L'] = (-p(0.04, 0.01), height + 0.02)
        pts['crotch'] = (0.0, p(0.27, 0.02))
        chain = ['hip', 'hem_out', 'hem_in']
        middle = ['crotch']
    else:
        height = p(1.28, 0.08)
        pts['hip.L'] = (-(waist + p(0.03, 0.01)), p(0.18, 0.02))
        pts['knee_out.L'] = (-p(0.26, 0.015), 0.56 * height)
        pts['hem_out.L'] = (-p(0.30, 0.02), height)
        pts['hem_in.L'] = (-p(0.09, 0.015), height + 0.02)
        pts['knee_in.L'] = (-p(0.055, 0.01), 0.56 * height)
        pts['crotch'] = (0.0, p(0.33, 0.02))
        chain = ['hip', 'knee_out', 'hem_out', 'hem_in', 'knee_in']
        middle = ['crotch']
    pts['band_low.L'] = (-waist, band)
    pts['band_center'] = (0.0, band + pts['waist_center'][1])
    points = _mirror(pts)
    left_chain = _chain('L', chain)
    right_chain = list(reversed(_chain('R', chain)))
    slots = ['waist.L', 'waist_center', 'waist.R'] + left_chain + middle + right_chain
    silhouette = ['waist.L'] + left_chain + middle + right_chain + ['waist.R', 'waist_center']
    waistband = ['waist.L', 'waist_center', 'waist.R', 'band_low.R', 'band_center', 'band_low.L']
    layers = [(silhouette, 'main'), (waistband, 'band')]
    return GarmentTemplate(label, points, slots, silhouette, layers)


#: How each category (0-based label) is built.
_BUILDERS = {
    0: dict(family='upper', sleeve='short', body='top', open_front=False),
    1: dict(family='upper', sleeve='long', body='top', open_front=False),
    2: dict(family='upper', sleeve='short', body='top', open_front=True),
    3: dict(family='upper', sleeve='long', body='top', open_front=True),
    4: dict(family='upper', sleeve='', body='top', open_front=False, sleeveless='vest'),
    5: dict(family='upper', sleeve='', body='top', open_front=False, sleeveless='sling'),
    6: dict(family='lower', kind='shorts'),
    7: dict(family='lower', kind='trousers'),
    8: dict(family='lower', kind='skirt'),
    9: dict(family='upper', sleeve='short', body='dress', open_front=False),
    10: dict(family='upper', sleeve='long', body='dress', open_front=False),
    11: dict(family='upper', sleeve='', body='dress', open_front=False, sleeveless='vest'),
    12: dict(family='upper', sleeve='', body='dress', open_front=False, sleeveless='sling'),
}


def garment_template(label: int, rng: Optional[np.random.Generator] = None) -> GarmentTemplate:
    """The template of category ``label`` (0..12); ``rng`` varies its proportions
    symmetrically, ``None`` gives the canonical garment."""
    spec = dict(_BUILDERS[label])
    family = spec.pop('family')

    def params(mean: float, spread: float) -> float:
        return mean if rng is None else float(mean + rng.uniform(-spread, spread))

    if family == 'upper':
        template = _upper_body(label, params, **spec)
    else:
        template = _lower_body(label, params, **spec)
    start, end = KEYPOINT_SLICES[label]
    if len(template.slots) != end - start:
        raise AssertionError(f'template {label} has {len(template.slots)} landmarks, '
                             f'category needs {end - start}')
    return template
