"""Synthetic RGB-D rooms with known geometry, where depth disambiguates what colour cannot.

Each scene is ray-cast from a pinhole camera (NYUv2's depth intrinsics scaled to the image size)
standing 1.1-1.7 m above the floor of a box room, pitched from 10 degrees up to 25 degrees down
and yawed up to 20 degrees. The room holds a floating table top (0.65-0.8 m high, 4 cm thick)
and a cabinet (0.8-2 m tall). Every surface instance gets a colour drawn from one shared
palette, whatever its class, plus faint shading and pixel noise, so colour carries no class
information; the classes differ only in geometry (height, orientation, extent), which the depth
map reveals.

Classes: wall, floor, ceiling, table, cabinet. Depth is the camera Z in metres with 1 % noise.
This is a test bed for RGB-D architectures, not a stand-in for NYUv2's appearance.

Example:
    >>> import numpy as np
    >>> from semseg.data.synthetic_rgbd import render_scene
    >>> scene = render_scene(np.random.default_rng(0), 120, 160)
    >>> scene.rgb.shape, scene.depth.shape, scene.labels.shape
    ((120, 160, 3), (120, 160), (120, 160))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semseg.data.geometry import NYU_DEPTH, Intrinsics
from semseg.data.info import DatasetInfo
from semseg.data.nyuv2 import RGBD_MEAN, RGBD_STD

CLASSES = ("wall", "floor", "ceiling", "table", "cabinet")
WALL, FLOOR, CEILING, TABLE, CABINET = range(5)
INFO = DatasetInfo(name="synthetic_rgbd", classes=CLASSES,
                   palette=((120, 120, 120), (200, 160, 90), (230, 230, 250), (220, 60, 60),
                            (60, 90, 200)), mean=RGBD_MEAN, std=RGBD_STD)
# the one palette every surface draws its colour from (muted room colours)
COLOURS = np.array([(190, 180, 160), (150, 110, 80), (200, 200, 205), (120, 130, 140),
                    (170, 150, 120), (210, 200, 180)], dtype=np.float64)


@dataclass(frozen=True)
class Scene:
    """One rendered frame: RGB, depth in metres, labels, the camera and the up direction."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres
    labels: np.ndarray  # (H, W) uint8 class ids
    intrinsics: Intrinsics
    up: np.ndarray  # (3,) world up in camera coordinates (X right, Y down, Z forward)


def camera(h: int, w: int) -> Intrinsics:
    """NYUv2's depth camera scaled to an (h, w) image."""
    sx, sy = w / 640.0, h / 480.0
    return Intrinsics(NYU_DEPTH.fx * sx, NYU_DEPTH.fy * sy, NYU_DEPTH.cx * sx, NYU_DEPTH.cy * sy)


def _box_hits(origin: np.ndarray, rays: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Slab test of rays (N, 3) against an axis-aligned box: entry distance (inf on a miss) and
    the axis (0, 1, 2) of the face hit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - origin) / rays, (hi - origin) / rays  # (N, 3)
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    near = np.where(np.isnan(near), -np.inf, near)
    t_in, t_out = near.max(1), np.nan_to_num(far, nan=np.inf).min(1)
    hit = (t_in <= t_out) & (t_in > 1e-6)
    return np.where(hit, t_in, np.inf), near.argmax(1)


def _rotation(pitch: float, yaw: float) -> np.ndarray:
    """Camera-to-world rotation; world is X right, Y up, Z forward, camera Y points down."""
    flip = np.diag([1.0, -1.0, 1.0])  # camera Y down -> world Y up
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    tilt = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # positive pitch looks down
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return turn @ tilt @ flip


def _layout(rng: np.random.Generator) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class, box min, box max) of the room's solids; the room itself is handled by the caller."""
    tx, tz = rng.uniform(-0.8, 0.8), rng.uniform(1.4, 2.6)
    top = rng.uniform(0.65, 0.8)
    table = (TABLE, np.array([tx - 0.8, top - 0.04, tz - 0.5]), np.array([tx + 0.8, top, tz + 0.5]))
    side = rng.choice([-1.0, 1.0])
    cx, cz, ch = side * rng.uniform(1.0, 1.6), rng.uniform(2.5, 4.0), rng.uniform(0.8, 2.0)
    cabinet = (CABINET, np.array([cx - 0.45, 0.0, cz - 0.3]), np.array([cx + 0.45, ch, cz + 0.3]))
    return [table, cabinet]


def render_scene(rng: np.random.Generator, h: int = 120, w: int = 160) -> Scene:
    """One random room seen from a random pose."""
    k = camera(h, w)
    pitch, yaw = np.radians(rng.uniform(-10, 25)), np.radians(rng.uniform(-20, 20))
    rot = _rotation(pitch, yaw)
    origin = np.array([rng.uniform(-0.5, 0.5), rng.uniform(1.1, 1.7), 0.0])
    v, u = np.mgrid[:h, :w].astype(np.float64)
    cam_rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1)  # Z = 1
    rays = cam_rays.reshape(-1, 3) @ rot.T  # (N, 3) world directions, camera Z = 1
    half, depth_z, height = rng.uniform(2.0, 3.0), rng.uniform(5.0, 7.0), rng.uniform(2.5, 3.0)
    room_lo, room_hi = np.array([-half, 0.0, -2.0]), np.array([half, height, depth_z])
    with np.errstate(divide="ignore", invalid="ignore"):  # the room from inside: exit distance
        t_faces = np.where(rays > 0, (room_hi - origin) / rays, (room_lo - origin) / rays)
    t_faces = np.where(np.isfinite(t_faces) & (t_faces > 0), t_faces, np.inf)
    t, axis = t_faces.min(1), t_faces.argmin(1)
    up_going = rays[np.arange(len(rays)), 1] > 0
    label = np.where(axis == 1, np.where(up_going, CEILING, FLOOR), WALL)
    surface = axis * 2 + (rays[np.arange(len(rays)), axis] > 0)  # 6 room faces
    for i, (cls, lo, hi) in enumerate(_layout(rng)):
        t_box, box_axis = _box_hits(origin, rays, lo, hi)
        closer = t_box < t
        t, label = np.where(closer, t_box, t), np.where(closer, cls, label)
        surface = np.where(closer, 6 + 3 * i + box_axis, surface)
        axis = np.where(closer, box_axis, axis)
    rgb = _shade(rng, surface, axis, rays, (h, w))
    depth = (t.reshape(h, w) * (1 + 0.01 * rng.standard_normal((h, w)))).astype(np.float32)
    return Scene(rgb, depth, label.reshape(h, w).astype(np.uint8), k, rot.T @ [0.0, 1.0, 0.0])


def _shade(rng: np.random.Generator, surface: np.ndarray, axis: np.ndarray, rays: np.ndarray,
           size: tuple[int, int]) -> np.ndarray:
    """Per-surface colours from the shared palette, faint orientation shading, pixel noise."""
    colours = COLOURS[rng.integers(0, len(COLOURS), surface.max() + 1)]  # (S, 3)
    light = np.array([0.3, 0.8, -0.5]) / np.linalg.norm([0.3, 0.8, -0.5])
    shade = 0.9 + 0.1 * np.abs(light[axis])  # +-5 %: orientation barely shows in colour
    rgb = colours[surface] * shade[:, None] + rng.normal(0, 8, (len(surface), 3))
    return np.clip(rgb, 0, 255).reshape(*size, 3).astype(np.uint8)
