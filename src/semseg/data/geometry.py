"""RGB-D geometry: back-projection, surface normals, gravity and the HHA encoding.

Camera frame as in OpenCV and the NYUv2 toolbox: X right, Y down, Z forward (metres). A pixel
(u, v) with depth Z back-projects to ``X = (u - cx) Z / fx``, ``Y = (v - cy) Z / fy``. Depth 0 (or
NaN) means no measurement: its point, normal and HHA are invalid (NaN; HHA writes 0).

HHA (Gupta, Girshick, Arbelaez, Malik, ECCV 2014) stores three uint8 channels per pixel:
horizontal disparity ``31000 / max(Z_cm, 100)``, height above the lowest point in cm, and the angle
between the surface normal and the estimated "up" direction, + 38 degrees (``angle + 128 - 90``),
the constants of the public Depth2HHA ports of Gupta's MATLAB code.

Example:
    >>> import numpy as np
    >>> from semseg.data.geometry import NYU_DEPTH, backproject
    >>> backproject(np.full((480, 640), 2.0), NYU_DEPTH).shape
    (480, 640, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_matrix(cls, k: np.ndarray) -> Intrinsics:
        """From a 3x3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))


# NYUv2 depth camera (Silberman et al.'s toolbox camera_params.m, as in xjqicuhk/3DGNN).
NYU_DEPTH = Intrinsics(582.62448, 582.69103, 313.04476, 238.44390)
NYU_RGB = Intrinsics(518.85790, 519.46961, 325.58245, 253.73617)


def backproject(depth: np.ndarray, intrinsics: Intrinsics = NYU_DEPTH) -> np.ndarray:
    """(H, W) depth in metres -> (H, W, 3) float64 camera points; NaN where depth is missing."""
    z = np.asarray(depth, dtype=np.float64)
    z = np.where(np.isfinite(z) & (z > 0), z, np.nan)
    v, u = np.mgrid[: z.shape[0], : z.shape[1]].astype(np.float64)
    x = (u - intrinsics.cx) * z / intrinsics.fx
    y = (v - intrinsics.cy) * z / intrinsics.fy
    return np.stack([x, y, z], axis=-1)


def backproject_torch(depth: torch.Tensor, intrinsics: Intrinsics = NYU_DEPTH,
                      stride: float | tuple[float, float] = 1.0) -> torch.Tensor:
    """(N, h, w) depth in metres -> (N, h, w, 3) points; pixel (i, j) of a map downsampled by
    ``stride`` (or (stride_y, stride_x)) covers input pixels centred at ``(j + 0.5) * stride -
    0.5``."""
    _, h, w = depth.shape
    sy, sx = stride if isinstance(stride, tuple) else (stride, stride)
    u = (torch.arange(w, dtype=depth.dtype, device=depth.device) + 0.5) * sx - 0.5
    v = (torch.arange(h, dtype=depth.dtype, device=depth.device) + 0.5) * sy - 0.5
    x = (u[None, None, :] - intrinsics.cx) * depth / intrinsics.fx  # (N, h, w)
    y = (v[None, :, None] - intrinsics.cy) * depth / intrinsics.fy
    return torch.stack([x, y, depth], dim=-1)


def _difference(points: np.ndarray, axis: int, step: int) -> np.ndarray:
    """points[i + step] - points[i - step] along ``axis``, clamped at the borders."""
    idx = np.arange(points.shape[axis])
    hi = np.take(points, np.minimum(idx + step, idx[-1]), axis=axis)
    lo = np.take(points, np.maximum(idx - step, 0), axis=axis)
    return hi - lo


def surface_normals(points: np.ndarray, step: int = 3) -> np.ndarray:
    """(H, W, 3) unit normals, facing the camera, from differences of the points ``step`` pixels
    apart (a larger step averages out depth noise); NaN where undefined."""
    n = np.cross(_difference(points, 1, step), _difference(points, 0, step))  # (H, W, 3)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / norm
    flip = np.sum(n * points, axis=-1, keepdims=True) > 0  # the camera sees the front face
    return np.where(flip, -n, n)


def gravity_direction(normals: np.ndarray, thresholds_deg: tuple[float, ...] = (45.0, 15.0),
                      initial: tuple[float, float, float] = (0.0, -1.0, 0.0)) -> np.ndarray:
    """The unit "up" direction that most normals are parallel or perpendicular to.

    Gupta et al.'s iteration: starting from ``initial`` (camera up), keep the normals within
    ``t`` degrees of parallel and of perpendicular to the estimate, and take the direction that
    minimises sum (n.g)^2 over the perpendicular set minus sum (n.g)^2 over the parallel set.
    """
    n = normals.reshape(-1, 3)
    n = n[np.isfinite(n).all(1)]
    g = np.asarray(initial, dtype=np.float64)
    for t in thresholds_deg:
        cos = np.abs(n @ g)
        par, perp = n[cos > np.cos(np.radians(t))], n[cos < np.sin(np.radians(t))]
        if len(par) + len(perp) < 3:
            break
        _, vectors = np.linalg.eigh(perp.T @ perp - par.T @ par)
        new = vectors[:, 0]  # eigenvalues ascend: the smallest first
        g = new if new @ g >= 0 else -new
    return g / np.linalg.norm(g)


def hha(depth: np.ndarray, intrinsics: Intrinsics = NYU_DEPTH,
        up: np.ndarray | None = None) -> np.ndarray:
    """(H, W) depth in metres -> (H, W, 3) uint8 HHA (disparity, height, angle); 0 where the
    depth is missing. ``up`` defaults to :func:`gravity_direction` of the normals."""
    points = backproject(depth, intrinsics)
    normals = surface_normals(points)
    g = gravity_direction(normals) if up is None else np.asarray(up, float) / np.linalg.norm(up)
    valid = np.isfinite(points).all(-1)
    z_cm = np.maximum(points[..., 2] * 100.0, 100.0)
    height = points @ g * 100.0  # cm along "up"
    height = height - (np.nanmin(height[valid]) if valid.any() else 0.0)
    angle = np.degrees(np.arccos(np.clip(normals @ g, -1.0, 1.0)))
    angle = np.where(np.isfinite(angle), angle, 180.0)  # as the MATLAB code does
    out = np.stack([31000.0 / z_cm, height, angle + 128.0 - 90.0], axis=-1)
    out = np.clip(np.rint(np.nan_to_num(out)), 0, 255).astype(np.uint8)
    out[~valid] = 0
    return out
