"""KNN post-processing on hand-built range images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semseg.errors import ConfigError
from semseg.lidar.knn import inverse_gaussian, knn_labels

# One row of five pixels: a wall at 10 m (class 0) in front of a car at 20 m (class 1).
RANGE = np.array([[10.0, 10.0, 10.0, 20.0, 20.0]], np.float32)
LABELS = np.array([[0, 0, 0, 1, 1]])


def test_inverse_gaussian_weights_by_hand() -> None:
    w = inverse_gaussian(5, 1.0).reshape(5, 5)
    total = (1 + 2 * math.exp(-0.5) + 2 * math.exp(-2)) ** 2  # sum of exp(-(dx^2 + dy^2) / 2)
    assert float(w[2, 2]) == pytest.approx(1 - 1 / total)  # 0.8379
    assert float(w[2, 3]) == pytest.approx(1 - math.exp(-0.5) / total)  # 0.9017
    assert float(w[0, 0]) == pytest.approx(1 - math.exp(-4) / total)


def knn(u, r, **kw):
    u = np.asarray(u)
    return knn_labels(RANGE, LABELS, u, np.zeros_like(u), np.asarray(r, np.float32),
                      num_classes=2, **kw).tolist()


def test_hidden_point_takes_the_label_of_its_range_neighbours() -> None:
    # The point at u=2, 20.2 m is hidden behind the wall pixel (10 m, class 0). Its five nearest:
    # centre 0 (class 0), u=3 |20-20.2| * 0.902 = 0.18 and u=4 0.2 * 0.978 = 0.196 (class 1),
    # u=1 10.2 * 0.902 and u=0 10.2 * 0.978 (beyond the 1 m cutoff: no vote) -> class 1 wins 2:1.
    assert knn([0, 2, 4, 2], [10.0, 20.2, 20.0, 10.0]) == [0, 1, 1, 0]
    assert knn([2], [20.2], k=1) == [0]  # only the pixel itself
    assert knn([2], [20.2], cutoff=0.1) == [0]  # the car pixels are now beyond the cutoff


def test_empty_pixels_never_vote() -> None:
    rng = np.array([[10.0, -1.0, 10.5, -1.0, -1.0]], np.float32)
    labels = np.array([[1, 0, 1, 0, 0]])  # the three empty pixels carry a stale class 0
    u, r = np.array([0]), np.array([10.0], np.float32)
    # voters: itself and u=2 (0.5 * 0.978 m), both class 1; were the empty pixels (or the zero
    # padding) counted as neighbours, class 0 would win 3:2
    assert knn_labels(rng, labels, u, np.zeros_like(u), r, num_classes=2).tolist() == [1]


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="odd"):
        knn([0], [10.0], search=4)
    with pytest.raises(ConfigError, match="k=30"):
        knn([0], [10.0], k=30)
