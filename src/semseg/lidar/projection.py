"""Spherical (range-image) projection of a LiDAR scan, as in RangeNet++ and SalsaNext.

Each point (x, y, z) at range r = |p| gets yaw = -atan2(y, x) and pitch = asin(z / r); column
u = floor(0.5 (yaw / pi + 1) W) and row v = floor((1 - (pitch - fov_down) / fov) H), both clamped
into the image. Where several points fall in one pixel the closest one is kept (ties: the lower
point index). The image has five channels (range, x, y, z, remission), normalised with the
dataset statistics and zero where no point landed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from semseg.errors import ConfigError


@dataclass(frozen=True)
class ProjectionConfig:
    """Range-image size and the sensor's vertical field of view (HDL-64E defaults)."""

    height: int = 64
    width: int = 2048
    fov_up: float = 3.0  # degrees above the horizon
    fov_down: float = -25.0  # degrees (negative: below the horizon)

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ConfigError(f"range image {self.height}x{self.width}: expected positive sizes")
        if self.fov_up <= self.fov_down:
            raise ConfigError(f"fov_up {self.fov_up} must exceed fov_down {self.fov_down}")


@dataclass(frozen=True)
class RangeProjection:
    """A projected scan and the indices that lead back to its points."""

    image: np.ndarray  # (5, H, W) float32 normalised range, x, y, z, remission; 0 where empty
    mask: np.ndarray  # (H, W) bool, True where a point landed
    point_index: np.ndarray  # (H, W) int64 index of the point kept in each pixel, -1 if empty
    range_image: np.ndarray  # (H, W) float32 range in metres of the kept point, -1 if empty
    u: np.ndarray  # (N,) int64 column of every point
    v: np.ndarray  # (N,) int64 row of every point
    point_range: np.ndarray  # (N,) float32 range of every point in metres


def pixel_coordinates(points: np.ndarray, cfg: ProjectionConfig) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """(u, v, range) of every point of an (N, >=3) array: column, row, metres."""
    xyz = points[:, :3].astype(np.float64)
    r = np.linalg.norm(xyz, axis=1)  # (N,)
    yaw = -np.arctan2(xyz[:, 1], xyz[:, 0])
    pitch = np.arcsin(np.divide(xyz[:, 2], r, out=np.zeros_like(r), where=r > 0))
    down, fov = math.radians(cfg.fov_down), math.radians(cfg.fov_up - cfg.fov_down)
    u = np.floor(0.5 * (yaw / math.pi + 1.0) * cfg.width)
    v = np.floor((1.0 - (pitch - down) / fov) * cfg.height)
    u = np.clip(u, 0, cfg.width - 1).astype(np.int64)
    v = np.clip(v, 0, cfg.height - 1).astype(np.int64)
    return u, v, r.astype(np.float32)


def project(points: np.ndarray, cfg: ProjectionConfig | None = None,
            mean: tuple[float, ...] | None = None,
            std: tuple[float, ...] | None = None) -> RangeProjection:
    """Project (N, 4) points (x, y, z, remission) into a normalised 5-channel range image."""
    from semseg.data.semantickitti import MEAN, STD

    if points.ndim != 2 or points.shape[1] < 4:
        raise ConfigError(f"points must be an (N, 4) array of x, y, z, remission; got shape "
                          f"{tuple(points.shape)}")
    cfg = cfg or ProjectionConfig()
    mean = np.asarray(MEAN if mean is None else mean, np.float32)[:, None]  # (5, 1)
    std = np.asarray(STD if std is None else std, np.float32)[:, None]
    u, v, r = pixel_coordinates(points, cfg)
    pixel = v * cfg.width + u  # (N,) flat pixel index
    order = np.lexsort((np.arange(len(r)), r, pixel))  # by pixel, then range, then index
    first = np.ones(len(order), bool)
    first[1:] = pixel[order][1:] != pixel[order][:-1]
    kept = order[first]  # the closest point of every filled pixel
    point_index = np.full(cfg.height * cfg.width, -1, np.int64)
    point_index[pixel[kept]] = kept
    point_index = point_index.reshape(cfg.height, cfg.width)
    mask = point_index >= 0
    feats = np.concatenate([r[kept, None], points[kept, :4]], axis=1).T.astype(np.float32)
    image = np.zeros((5, cfg.height * cfg.width), np.float32)
    image[:, pixel[kept]] = (feats - mean) / std  # (5, K) normalised, zero elsewhere
    range_image = np.full(cfg.height * cfg.width, -1.0, np.float32)
    range_image[pixel[kept]] = r[kept]
    return RangeProjection(image.reshape(5, cfg.height, cfg.width), mask, point_index,
                           range_image.reshape(cfg.height, cfg.width), u, v, r)


def project_labels(labels: np.ndarray, proj: RangeProjection, fill: int = 255) -> np.ndarray:
    """(H, W) per-pixel labels of the kept points; ``fill`` where no point landed."""
    out = np.full(proj.point_index.shape, fill, dtype=labels.dtype)
    out[proj.mask] = labels[proj.point_index[proj.mask]]
    return out
