"""Spherical projection against a hand computation and against the real scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semseg.data import semantickitti as kitti
from semseg.errors import ConfigError
from semseg.lidar.projection import ProjectionConfig, project, project_labels

from .conftest import SCAN

C20, S20 = 10 * math.cos(math.radians(20)), 10 * math.sin(math.radians(20))
C40, S40 = 10 * math.cos(math.radians(40)), 10 * math.sin(math.radians(40))
# x, y, z, remission. With H=4, W=8, fov +3/-25 (28 deg): u = floor(4 (yaw/pi + 1)),
# v = floor(4 (1 - (pitch + 25)/28)).
POINTS = np.array([
    [10, 0, 0, 0.5],  # yaw 0 -> u 4; pitch 0 -> v floor(0.43) = 0
    [0, 10, 0, 0.1],  # yaw -pi/2 -> u 2, v 0
    [5, 0, 0, 0.9],  # same pixel as point 0 but closer: wins it
    [C20, 0, -S20, 0.3],  # pitch -20 -> v floor(4 * 23/28 = 3.29) = 3, u 4
    [0, -10, 0, 0.2],  # yaw +pi/2 -> u 6, v 0
    [C40, 0, -S40, 0.4],  # pitch -40: v 6.1 clamped to 3; ties point 3 at 10 m: lower index wins
    [-10, 0.01, 0, 0.7],  # yaw just above -pi -> u 0, v 0
], np.float32)
SMALL = ProjectionConfig(height=4, width=8)


def test_hand_computed_pixels_and_closest_point_wins() -> None:
    proj = project(POINTS, SMALL, mean=(0,) * 5, std=(1,) * 5)
    assert proj.u.tolist() == [4, 2, 4, 4, 6, 4, 0]
    assert proj.v.tolist() == [0, 0, 0, 3, 0, 3, 0]
    expected = {(0, 4): 2, (0, 2): 1, (3, 4): 3, (0, 6): 4, (0, 0): 6}
    assert {tuple(p) for p in np.argwhere(proj.mask)} == set(expected)
    for (v, u), i in expected.items():
        assert proj.point_index[v, u] == i
        r = float(np.linalg.norm(POINTS[i, :3]))
        assert proj.range_image[v, u] == pytest.approx(r)
        np.testing.assert_allclose(proj.image[:, v, u], [r, *POINTS[i]], rtol=1e-6)
    assert (proj.image[:, ~proj.mask] == 0).all() and (proj.range_image[~proj.mask] == -1).all()
    labels = np.array([10, 11, 12, 13, 14, 15, 16])
    assert project_labels(labels, proj)[0].tolist() == [16, 255, 11, 255, 12, 255, 14, 255]


def test_normalisation_uses_the_dataset_statistics() -> None:
    proj = project(POINTS, SMALL)  # SemanticKITTI means/stds by default
    raw = np.array([5, 5, 0, 0, 0.9], np.float32)
    expected = (raw - np.array(kitti.MEAN)) / np.array(kitti.STD)
    np.testing.assert_allclose(proj.image[:, 0, 4], expected, rtol=1e-5)


def test_bad_configs() -> None:
    with pytest.raises(ConfigError, match="fov_up"):
        ProjectionConfig(fov_up=-30.0)
    with pytest.raises(ConfigError, match="positive"):
        ProjectionConfig(height=0)


def test_real_scan_filled_pixels_counted_independently() -> None:
    if not SCAN.is_file():
        pytest.skip("SemanticKITTI sample not available")
    points = kitti.read_scan(SCAN)
    proj = project(points)  # 64 x 2048, HDL-64E field of view
    x, y, z = (points[:, i].astype(np.float64) for i in range(3))
    r = np.sqrt(x * x + y * y + z * z)
    col = np.clip(np.floor(1024 * (1 - np.arctan2(y, x) / np.pi)), 0, 2047).astype(int)
    row = np.clip(np.floor(64 * (1 - (np.degrees(np.arcsin(z / r)) + 25) / 28)), 0, 63)
    flat = row.astype(int) * 2048 + col
    assert (proj.u == col).all() and (proj.v == row).all()
    assert proj.mask.sum() == len(np.unique(flat))
    nearest = np.full(64 * 2048, np.inf)
    np.minimum.at(nearest, flat, r)
    np.testing.assert_allclose(proj.range_image.ravel()[proj.mask.ravel()],
                               nearest[np.isfinite(nearest)], rtol=1e-6)
    assert proj.image.shape == (5, 64, 2048) and proj.image.dtype == np.float32
