"""Synthetic RGB-D rooms: depth, labels and camera agree geometrically; colour is class-free."""

from __future__ import annotations

import numpy as np

from semseg.data.geometry import backproject, hha
from semseg.data.synthetic_rgbd import CABINET, CEILING, FLOOR, TABLE, WALL, render_scene


def test_same_seed_same_scene() -> None:
    a, b = (render_scene(np.random.default_rng(3), 48, 64) for _ in range(2))
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    assert a.rgb.shape == (48, 64, 3) and a.depth.dtype == np.float32
    assert a.labels.max() <= CABINET


def test_heights_follow_the_room() -> None:
    """Back-projected with the scene's camera, every floor pixel lies in one horizontal plane and
    the table top 0.6-0.8 m above it; ceilings lie above tables."""
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(12):
        s = render_scene(rng, 60, 80)
        height = backproject(s.depth, s.intrinsics) @ s.up  # metres along "up", camera = 0
        seen |= set(np.unique(s.labels).tolist())
        if (s.labels == FLOOR).sum() < 20:  # the camera looks up
            continue
        floor = np.median(height[s.labels == FLOOR])
        assert np.abs(height[s.labels == FLOOR] - floor).max() < 0.12  # 1 % depth noise only
        top = s.labels == TABLE
        if top.sum() > 20:
            assert 0.55 < np.median(height[top]) - floor < 0.85
        if (s.labels == CEILING).sum() > 20:
            assert np.median(height[s.labels == CEILING]) - floor > 2.4
    assert seen == {WALL, FLOOR, CEILING, TABLE, CABINET}


def test_walls_are_vertical_and_floors_horizontal_in_hha() -> None:
    s = render_scene(np.random.default_rng(5), 120, 160)
    angle = hha(s.depth, s.intrinsics, up=s.up)[..., 2].astype(int) - 38  # degrees from up
    assert abs(np.median(angle[s.labels == WALL]) - 90) < 8
    assert np.median(angle[s.labels == FLOOR]) < 15


def test_colour_does_not_identify_the_class() -> None:
    rng = np.random.default_rng(1)
    means = {FLOOR: [], WALL: []}
    for _ in range(30):
        s = render_scene(rng, 30, 40)
        for c in means:
            if (s.labels == c).any():
                means[c].append(s.rgb[s.labels == c].mean(0))
    floor, wall = (np.mean(means[c], 0) for c in (FLOOR, WALL))
    assert np.abs(floor - wall).max() < 30  # same palette: averages agree
