"""NYUv2 labeled .mat (MATLAB v7.3 = HDF5, transposed arrays) on a 3-frame fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat
from torch.nn import functional as F

from semseg.cli import main
from semseg.data import nyuv2
from semseg.data.dataset import DEPTH_PER_METER
from semseg.data.transforms import train_transform
from semseg.errors import DatasetLayoutError, InputFileError

h5py = pytest.importorskip("h5py")

H, W, N = 4, 5, 3
# raw NYU ids: 21 wall, 11 floor, 0 unlabeled, 157 bed, 85 books, 1 book (-> otherprop), 894
RAW = np.array([[21, 11, 0, 157, 85], [1, 894, 21, 21, 21], [11] * 5, [0] * 5], np.uint16)
LABELS40 = [[0, 1, 255, 3, 22], [39, 39, 0, 0, 0], [1] * 5, [255] * 5]
LABELS13 = [[11, 4, 255, 0, 1], [6, 6, 11, 11, 11], [4] * 5, [255] * 5]


def frame(i: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = (np.arange(H * W * 3).reshape(H, W, 3) * (i + 1) % 256).astype(np.uint8)
    depth = (np.arange(H * W, dtype=np.float32).reshape(H, W) / 4 + i).astype(np.float32)
    return rgb, depth


def make_nyu(root: Path, splits: dict[str, list[int]] | None = None) -> Path:
    """A labeled .mat laid out like MATLAB's -v7.3 writer: 512-byte header, column-major."""
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / nyuv2.LABELED, "w", userblock_size=512) as f:
        rgbs, depths = zip(*(frame(i) for i in range(N)), strict=True)
        f["images"] = np.stack([r.transpose(2, 1, 0) for r in rgbs])  # (N, 3, W, H)
        f["depths"] = np.stack([d.T for d in depths])  # (N, W, H)
        f["labels"] = np.stack([RAW.T] * N)  # (N, W, H) uint16
    with open(root / nyuv2.LABELED, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
                 b"HDF5 schema 1.00 .")
    splits = splits or {"trainNdxs": [1, 3], "testNdxs": [2]}
    savemat(root / "splits.mat", {k: np.array(v, np.uint16).reshape(-1, 1)
                                  for k, v in splits.items()})
    return root


def test_tables_match_the_published_files() -> None:
    assert len(nyuv2.MAP_894_TO_40) == 894 and set(nyuv2.MAP_894_TO_40) <= set(range(1, 41))
    assert nyuv2.MAP_894_TO_40[20] == 1 and nyuv2.MAP_894_TO_40[10] == 2  # wall, floor
    assert len(nyuv2.MAP_40_TO_13) == 40 and set(nyuv2.MAP_40_TO_13) == set(range(1, 14))
    assert nyuv2.INFO.num_classes == 40 and nyuv2.INFO13.num_classes == 13
    assert len(nyuv2.INFO.mean) == 4


def test_frames_are_transposed_back_and_labels_mapped(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu")
    sources = {s.split: s for s in nyuv2.splits(root)}
    assert [s.image.name for s in sources["train"].samples] == ["1", "3"]
    assert len(sources["test"].samples) == 1
    ds = nyuv2.dataset(root, "train")
    image, mask = ds.load(1)  # frame 3
    rgb, depth = frame(2)
    assert image.shape == (H, W, 4) and image.dtype == np.float32
    np.testing.assert_array_equal(image[..., :3], rgb)
    np.testing.assert_allclose(image[..., 3], depth * DEPTH_PER_METER, rtol=1e-6)
    np.testing.assert_array_equal(mask, LABELS40)
    _, mask13 = nyuv2.dataset(root, "test", palette="nyuv2_13").load(0)
    np.testing.assert_array_equal(mask13, LABELS13)
    x, y = ds[0]
    assert x.shape == (4, H, W) and y.tolist() == LABELS40
    np.testing.assert_allclose(x[3].numpy(), frame(0)[1] / 10.0, rtol=1e-5)  # depth / 10 m


def test_one_training_step_with_four_input_channels(tmp_path: Path) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    root = make_nyu(tmp_path / "nyu")
    tf = train_transform(nyuv2.INFO, crop_size=(8, 8), scale_range=(1.0, 1.5))
    ds = nyuv2.dataset(root, "train", transform=tf)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert x.shape == (2, 4, 8, 8) and y.shape == (2, 8, 8)
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, nyuv2.INFO.num_classes, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = F.cross_entropy(net(x), y, ignore_index=255)
    loss.backward()
    assert torch.isfinite(loss)
    assert float(net[0].weight.grad[:, 3].abs().sum()) > 0  # depth feeds the gradient
    before = net[0].weight.detach().clone()
    opt.step()
    assert not torch.equal(before, net[0].weight)


def test_text_split_files(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu")
    (root / "splits.mat").unlink()
    (root / "train.txt").write_text("2\n3\n")
    (root / "test.txt").write_text("1\n")
    assert [s.image.name for s in nyuv2.dataset(root, "train").samples] == ["2", "3"]


def test_missing_split_file(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu")
    (root / "splits.mat").unlink()
    with pytest.raises(DatasetLayoutError, match=r"splits\.mat: file not found .*795 train"):
        nyuv2.splits(root)


def test_split_index_out_of_range(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu", {"trainNdxs": [1, 7], "testNdxs": [2]})
    with pytest.raises(DatasetLayoutError, match=r"frame indices \[7\] outside 1\.\.3"):
        nyuv2.dataset(root, "train")


def test_v5_mat_instead_of_hdf5(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu")
    savemat(root / nyuv2.LABELED, {"images": np.zeros((2, 2))})
    with pytest.raises(InputFileError, match=r"nyu_depth_v2_labeled\.mat: not a MATLAB v7\.3 "
                                             r"\(HDF5\) file"):
        nyuv2.splits(root)


def test_missing_depths_array(tmp_path: Path) -> None:
    root = make_nyu(tmp_path / "nyu")
    with h5py.File(root / nyuv2.LABELED, "r+") as f:
        del f["depths"]
    with pytest.raises(InputFileError, match=r"no 3-D 'depths' array"):
        nyuv2.splits(root)


def test_cli_verify(tmp_path: Path, capsys) -> None:
    root = make_nyu(tmp_path / "nyu")
    assert main(["datasets", "verify", str(root), "--format", "nyuv2", "--json"]) == 0
    reports = {r["split"]: r for r in json.loads(capsys.readouterr().out)["splits"]}
    assert reports["train"]["ok_pairs"] == 2 and reports["test"]["ok_pairs"] == 1
    assert reports["test"]["class_pixels"]["wall"] == 4 and reports["test"]["ignore_pixels"] == 6
    assert reports["test"]["sizes"] == {f"{W}x{H}": 1}
