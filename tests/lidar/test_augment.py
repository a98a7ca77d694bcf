"""Point augmentation: rigid motions and mirrors keep shapes, dropping keeps labels in step."""

from __future__ import annotations

import numpy as np

from semseg.lidar.augment import augment_scan


def test_augmented_scan_is_a_rigid_copy_with_labels_in_step() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2000, 4)).astype(np.float32) * 10
    index = np.arange(len(points))  # labels = row numbers, to follow every point
    moved = 0
    for seed in range(20):
        pts, idx = augment_scan(points, index, np.random.default_rng(seed), p=1.0)
        assert 0.5 * len(points) <= len(pts) <= len(points)  # drops at most half
        orig = points[idx]
        np.testing.assert_array_equal(pts[:, 3], orig[:, 3])  # remission untouched
        dz = pts[:, 2] - orig[:, 2]
        assert np.ptp(dz) < 1e-4 and -1.0 - 1e-5 <= dz[0] <= 1e-5  # one z shift in [-1, 0]
        d_new = np.linalg.norm(pts[1:50, :2] - pts[0, :2], axis=1)
        d_old = np.linalg.norm(orig[1:50, :2] - orig[0, :2], axis=1)
        np.testing.assert_allclose(d_new, d_old, rtol=1e-4, atol=1e-3)  # rigid in x, y
        moved += not np.allclose(pts[:, :3], orig[:, :3])
    assert moved >= 10  # each of translation, mirror, rotation fires half the time


def test_not_augmented_is_the_same_arrays() -> None:
    points, labels = np.ones((5, 4), np.float32), np.arange(5)
    out = augment_scan(points, labels, np.random.default_rng(0), p=0.0)
    assert out[0] is points and out[1] is labels
