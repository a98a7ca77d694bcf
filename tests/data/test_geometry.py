"""Back-projection, normals, gravity and HHA on planes with known answers and on a real room."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semseg.data.geometry import (
    NYU_DEPTH,
    NYU_RGB,
    Intrinsics,
    backproject,
    backproject_torch,
    gravity_direction,
    hha,
    surface_normals,
)

SAMPLES = str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nyuv2-samples"
              / "000001")
K = Intrinsics(40.0, 50.0, 32.0, 24.0)  # a wide view: floor and wall both visible


def _rotation_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _room(pitch: float, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth of a floor 1.2 m below the camera and a wall 6 m ahead, camera pitched down by
    ``pitch`` degrees; returns depth, the up direction and a floor mask (camera frame)."""
    rot = _rotation_x(pitch)
    up, forward = rot @ np.array([0.0, -1.0, 0.0]), rot @ np.array([0.0, 0.0, 1.0])
    v, u = np.mgrid[:h, :w].astype(float)
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], -1)  # Z = 1
    with np.errstate(divide="ignore"):
        z_floor = np.where(rays @ up < 0, -1.2 / (rays @ up), np.inf)
        z_wall = np.where(rays @ forward > 0, 6.0 / (rays @ forward), np.inf)
    return np.minimum(z_floor, z_wall), up, z_floor < z_wall


def test_backproject_matches_hand_computation() -> None:
    depth = np.zeros((3, 4))
    depth[2, 3] = 2.0
    depth[0, 0] = 1.0
    p = backproject(depth, Intrinsics(2.0, 4.0, 1.0, 0.5))
    np.testing.assert_allclose(p[2, 3], [(3 - 1) * 2 / 2, (2 - 0.5) * 2 / 4, 2.0])
    np.testing.assert_allclose(p[0, 0], [-0.5, -0.125, 1.0])
    assert np.isnan(p[1, 1]).all()  # depth 0 = no measurement
    # NYU defaults: the principal point back-projects onto the optical axis
    assert backproject(np.full((480, 640), 2.0))[238, 313, 0] == pytest.approx(
        (313 - NYU_DEPTH.cx) * 2 / NYU_DEPTH.fx)


def test_torch_backprojection_agrees_with_numpy_and_scales_with_stride() -> None:
    depth = np.random.default_rng(0).uniform(1, 5, (6, 8))
    t = backproject_torch(torch.tensor(depth)[None], K)[0].numpy()
    np.testing.assert_allclose(t, backproject(depth, K), rtol=1e-12)
    coarse = backproject_torch(torch.full((1, 3, 4), 2.0, dtype=torch.float64), K, stride=2)
    assert coarse[0, 1, 2, 0].item() == pytest.approx((2 * 2 + 0.5 - K.cx) * 2 / K.fx)


def test_normals_of_floor_and_wall() -> None:
    depth, _, floor = _room(pitch=0.0)
    n = surface_normals(backproject(depth, K), step=1)
    inner_floor = floor & np.roll(floor, 2, 0) & np.roll(floor, -2, 0)
    inner_wall = ~floor & np.roll(~floor, 2, 0) & np.roll(~floor, -2, 0)
    np.testing.assert_allclose(n[inner_floor], np.tile([0, -1, 0], (inner_floor.sum(), 1)),
                               atol=1e-9)
    np.testing.assert_allclose(n[inner_wall], np.tile([0, 0, -1], (inner_wall.sum(), 1)),
                               atol=1e-9)


@pytest.mark.parametrize("pitch", [0.0, 20.0])
def test_gravity_and_hha_of_a_pitched_room(pitch: float) -> None:
    depth, up, floor = _room(pitch)
    g = gravity_direction(surface_normals(backproject(depth, K)))
    assert np.degrees(np.arccos(min(1.0, g @ up))) < 1.0  # crease normals bias it slightly
    assert floor.sum() > 100 and (~floor).sum() > 100
    out = hha(depth, K, up=up).astype(int)
    estimated = hha(depth, K).astype(int)
    inner = floor & np.roll(floor, 4, 0) & np.roll(floor, -4, 0)
    wall = ~floor & np.roll(~floor, 4, 0) & np.roll(~floor, -4, 0)
    np.testing.assert_array_equal(out[..., 2][inner], 38)  # angle 0 + 128 - 90
    np.testing.assert_array_equal(out[..., 2][wall], 128)  # angle 90
    np.testing.assert_array_equal(out[..., 1][inner], 0)  # the floor is the lowest surface
    y, x = np.argwhere(wall)[0]
    height_cm = (backproject(depth, K)[y, x] @ up + 1.2) * 100
    assert out[y, x, 1] == min(255, round(height_cm))
    assert out[y, x, 0] == round(31000 / (depth[y, x] * 100))
    assert np.abs(estimated - out)[..., 2][inner | wall].max() <= 1  # angle, estimated gravity


def test_hha_writes_zero_where_depth_is_missing() -> None:
    depth, _, _ = _room(10.0)
    depth[5:9, 5:9] = 0.0
    out = hha(depth, K)
    assert (out[5:9, 5:9] == 0).all() and (out[..., 2][20:30, 20:30] >= 38).all()


def test_hha_of_a_real_room_matches_the_published_encoding() -> None:
    """NYUv2 frame 1: our HHA against the HHA image published with it (Depth2HHA's MATLAB port,
    JPEG-compressed); disparity and height agree almost exactly, the angle closely (the reference
    fits local planes for normals, we take differences)."""
    depth = np.load(f"{SAMPLES}/Depth_0.npy")
    ref = np.asarray(Image.open(f"{SAMPLES}/HHA_0.jpg")).astype(float)
    out = hha(depth, NYU_RGB).astype(float)
    corr = [np.corrcoef(out[..., c].ravel(), ref[..., c].ravel())[0, 1] for c in range(3)]
    assert corr[0] > 0.99 and corr[1] > 0.99 and corr[2] > 0.95, corr
    labels = np.asarray(Image.open(f"{SAMPLES}/Label_0.png"))  # 40 classes, 1 = wall, 2 = floor
    assert abs(np.median(out[..., 2][labels == 1]) - 128) <= 3  # walls are vertical
    assert np.median(out[..., 2][labels == 2]) < 60  # floors face up (angle < 22 degrees)
