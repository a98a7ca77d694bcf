"""SUN RGB-D 37-class benchmark layout: bit-rotated 16-bit depth PNGs, labels 0 = ignore."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from semseg.cli import main
from semseg.data import sunrgbd
from semseg.data.dataset import DEPTH_PER_METER
from semseg.data.transforms import RGBColorJitter, train_transform
from semseg.errors import DatasetLayoutError, InputFileError, LabelError

H, W = 4, 6
DEPTH_MM = np.array([[0, 1, 500, 1000, 8191, 8192], [12345, 65535 >> 3, 2000, 2000, 2000, 7],
                     [3000] * 6, [4000] * 6], np.uint16)
LABEL = np.array([[0, 1, 2, 37, 0, 5]] * H, np.uint8)


def encode_depth(mm: np.ndarray) -> np.ndarray:
    """The inverse of read3dPoints.m: rotate the 16-bit millimetres left by 3."""
    mm = mm.astype(np.uint16)
    return (mm << 3) | (mm >> 13)


def make_sun(root: Path, split: str = "train", n: int = 2, label: np.ndarray = LABEL) -> Path:
    for d in ("image", "depth", "label37"):
        (root / d / split).mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        Image.fromarray(np.full((H, W, 3), 40 * k, np.uint8)).save(
            root / "image" / split / f"img-{k:06d}.jpg", quality=100)
        Image.fromarray(encode_depth(DEPTH_MM)).save(
            root / "depth" / split / f"{k:08d}.png")
        Image.fromarray(label, mode="L").save(root / "label37" / split / f"img-{k:06d}.png")
    return root


def test_depth_bit_rotation_is_undone(tmp_path: Path) -> None:
    path = make_sun(tmp_path) / "depth" / "train" / "00000001.png"
    assert Image.open(path).mode in ("I;16", "I")
    np.testing.assert_allclose(sunrgbd.read_depth(path), DEPTH_MM / 1000.0, rtol=1e-6)
    raw = np.asarray(Image.open(path)).astype(np.int64)
    assert raw[0, 2] == 4000 and raw[0, 5] == ((8192 << 3) | (8192 >> 13)) & 0xFFFF == 1


def test_frames_pair_by_number_and_labels_shift(tmp_path: Path) -> None:
    root = make_sun(tmp_path)
    ds = sunrgbd.dataset(root, "train")
    assert [s.depth.name for s in ds.samples] == ["00000001.png", "00000002.png"]
    image, mask = ds.load(1)
    assert image.shape == (H, W, 4) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 3], DEPTH_MM / 1000.0 * DEPTH_PER_METER, rtol=1e-5)
    assert abs(float(image[..., :3].mean()) - 80) <= 2  # the JPEG's grey level
    np.testing.assert_array_equal(mask[0], [255, 0, 1, 36, 255, 4])
    assert sunrgbd.INFO.classes[36] == "bag" and len(sunrgbd.INFO.mean) == 4


def test_list_file_with_bare_label_names(tmp_path: Path) -> None:
    root = make_sun(tmp_path, "test", n=2)
    (root / "test37.txt").write_text(
        "image/test/img-000002.jpg depth/test/00000002.png img-000002.png\n")
    (sample,) = sunrgbd.dataset(root, "test").samples
    assert sample.mask == root / "label37" / "test" / "img-000002.png"


def test_colour_jitter_leaves_depth_alone() -> None:
    rng = np.random.default_rng(0)
    image = np.concatenate([rng.integers(0, 256, (8, 8, 3)), rng.uniform(0, 255, (8, 8, 1))],
                           axis=2).astype(np.float32)
    jitter = A.Compose([RGBColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1,
                                       p=1.0)], seed=1)
    out = jitter(image=image)["image"]
    np.testing.assert_array_equal(out[..., 3], image[..., 3])
    assert not np.array_equal(out[..., :3], image[..., :3])
    assert any(isinstance(t, RGBColorJitter)
               for t in train_transform(sunrgbd.INFO, crop_size=(8, 8)).pipeline.transforms)


def test_one_training_step_with_four_input_channels(tmp_path: Path) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    root = make_sun(tmp_path)
    ds = sunrgbd.dataset(root, "train", transform=train_transform(sunrgbd.INFO, crop_size=(8, 8)))
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert x.shape == (2, 4, 8, 8) and set(y.unique().tolist()) <= {0, 1, 4, 36, 255}
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, sunrgbd.INFO.num_classes, 1))
    loss = F.cross_entropy(net(x), y, ignore_index=255)
    loss.backward()
    before = net[0].weight.detach().clone()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    assert torch.isfinite(loss) and not torch.equal(before, net[0].weight)


def test_eight_bit_depth_is_rejected(tmp_path: Path) -> None:
    root = make_sun(tmp_path, n=1)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "depth/train/00000001.png")
    with pytest.raises(InputFileError, match=r"00000001\.png: uint8 .* 16-bit single-channel"):
        sunrgbd.dataset(root, "train").load(0)


def test_depth_size_mismatch(tmp_path: Path) -> None:
    root = make_sun(tmp_path, n=1)
    Image.fromarray(np.zeros((2, 2), np.uint16)).save(
        root / "depth/train/00000001.png")
    with pytest.raises(InputFileError, match=r"depth is 2x2 but image img-000001\.jpg is 6x4"):
        sunrgbd.dataset(root, "train").load(0)


def test_label_38_and_missing_files(tmp_path: Path) -> None:
    root = make_sun(tmp_path, n=1, label=np.full((H, W), 38, np.uint8))
    with pytest.raises(LabelError, match=r"img-000001\.png: label values 38 outside the allowed "
                                         r"0-37"):
        sunrgbd.dataset(root, "train").load(0)
    (root / "depth/train/00000001.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"img-000001\.jpg: no depth/label file "
                                                  r"numbered 1"):
        sunrgbd.dataset(root, "train")


def test_missing_depth_folder(tmp_path: Path) -> None:
    (tmp_path / "image" / "test").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"depth/test: folder not found"):
        sunrgbd.splits(tmp_path)


def test_cli_verify(tmp_path: Path, capsys) -> None:
    root = make_sun(tmp_path, "test", n=3)
    assert main(["datasets", "verify", str(root), "--format", "sunrgbd", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["ok_pairs"] == 3 and report["class_pixels"]["bag"] == 3 * H
    assert report["ignore_pixels"] == 3 * 2 * H
