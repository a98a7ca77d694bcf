"""SalsaNext's point-cloud augmentation, applied before projection.

With probability ``p`` a scan is augmented; then each of a random translation (x in [-5, 5] m,
y in [-3, 3] m, z in [-1, 0] m), a mirror of y (a left-right flip) and a rotation about the
vertical axis by an angle drawn from [0, 2 pi) applies with probability 0.5, and a share drawn
from U(0, 0.5) of the points is dropped.
"""

from __future__ import annotations

import numpy as np


def augment_scan(points: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                 p: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A randomly moved, mirrored, rotated and thinned copy of (N, 4) points and (N,) labels."""
    if rng.random() >= p:
        return points, labels
    pts = points.copy()
    if rng.random() < 0.5:
        pts[:, :3] += rng.uniform([-5.0, -3.0, -1.0], [5.0, 3.0, 0.0]).astype(np.float32)
    if rng.random() < 0.5:
        pts[:, 1] = -pts[:, 1]
    if rng.random() < 0.5:
        a = rng.uniform(0.0, 2 * np.pi)
        c, s = np.cos(a), np.sin(a)
        x, y = pts[:, 0].copy(), pts[:, 1].copy()
        pts[:, 0], pts[:, 1] = c * x - s * y, s * x + c * y
    keep = rng.random(len(pts)) >= rng.uniform(0.0, 0.5)
    return pts[keep], labels[keep]
