"""SUN RGB-D official layout: per-frame folders, seg.mat names -> 37 classes, allsplit.mat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from semseg.cli import main
from semseg.data import sunrgbd_official as sun
from semseg.data.dataset import DEPTH_PER_METER
from semseg.errors import DatasetLayoutError, InputFileError

from .test_sunrgbd import encode_depth

H, W = 4, 6
NAMES = ["wall", "Floor", "fridge", "unknown thing", "night_stand"]
# seglabel: 1-based indices into NAMES, 0 = unlabelled
SEG = np.array([[1, 1, 2, 2, 0, 3], [4, 5, 1, 1, 1, 1], [2] * 6, [0] * 6], np.uint16)
# wall 0, floor 1, refrigerator 23, night stand 31, others ignored
LABELS = [[0, 0, 1, 1, 255, 23], [255, 31, 0, 0, 0, 0], [1] * 6, [255] * 6]
K = "518.857901 0.000000 284.582449\n0.000000 519.469611 208.736166\n0.000000 0.000000 1.000000\n"
FRAMES = {"train": ["kv1/NYUdata/NYU0001", "kv2/kinect2data/000002_2014"],
          "test": ["realsense/lg/2014_10_26-23"]}


def make_frame(frame: Path, k: int, bfx: bool = True) -> None:
    for d in ("image", "depth", "depth_bfx"):
        (frame / d).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), 30 * k, np.uint8)).save(frame / "image" / "img.jpg",
                                                               quality=100)
    mm = np.full((H, W), 1000 * k, np.uint16)
    Image.fromarray(encode_depth(mm)).save(frame / "depth" / "d.png")
    if bfx:
        Image.fromarray(encode_depth(mm + 500)).save(frame / "depth_bfx" / "d.png")
    (frame / "intrinsics.txt").write_text(K)
    savemat(frame / "seg.mat", {"seglabel": SEG, "names": np.array(NAMES, dtype=object)})


def make_sun_official(root: Path, with_split: bool = True) -> Path:
    """Frames in SUNRGBD/<sensor>/... and the toolbox's allsplit.mat with absolute paths."""
    for i, frame in enumerate(FRAMES["train"] + FRAMES["test"], 1):
        make_frame(root / "SUNRGBD" / frame, i, bfx=i != 2)
    if with_split:
        split_dir = root / sun.SPLIT_FILE.parent
        split_dir.mkdir(parents=True)
        savemat(split_dir / "allsplit.mat", {
            key: np.array([f"/n/fs/sun3d/data/SUNRGBD/{f}" for f in FRAMES[s]], dtype=object)
            for s, key in sun.SPLIT_KEYS.items()})
    return root


def test_names_map_to_37_classes() -> None:
    assert sun.class_of_name("wall") == 1 and sun.class_of_name(" Night  Stand ") == 32
    assert sun.class_of_name("fridge") == 24 and sun.class_of_name("bag") == 37
    assert sun.class_of_name("otherprop") == 0 and sun.class_of_name("lamp shade") == 0


def test_official_tree_reads_frames_labels_and_depth(tmp_path: Path) -> None:
    root = make_sun_official(tmp_path / "sun")
    sources = {s.split: s for s in sun.splits(root)}
    assert set(sources) == {"train", "test"}
    assert [s.image.parent.parent.name for s in sources["train"].samples] == ["NYU0001",
                                                                              "000002_2014"]
    ds = sun.dataset(root, "train")
    image, mask = ds.load(0)
    assert image.shape == (H, W, 4)
    np.testing.assert_allclose(image[..., 3], 1.5 * DEPTH_PER_METER, rtol=1e-6)  # depth_bfx
    np.testing.assert_array_equal(mask, LABELS)
    image2, _ = ds.load(1)  # no depth_bfx: the raw depth
    np.testing.assert_allclose(image2[..., 3], 2.0 * DEPTH_PER_METER, rtol=1e-6)
    k = sun.read_intrinsics(root / "SUNRGBD" / FRAMES["train"][0] / "intrinsics.txt")
    assert (k.fx, k.cy) == (518.857901, 208.736166)


def test_without_split_file_every_frame_is_in_all(tmp_path: Path) -> None:
    root = make_sun_official(tmp_path / "sun", with_split=False)
    (source,) = sun.splits(root)
    assert source.split == "all" and len(source.samples) == 3


def test_problems_name_the_file(tmp_path: Path) -> None:
    root = make_sun_official(tmp_path / "sun")
    (root / "SUNRGBD" / FRAMES["test"][0] / "seg.mat").unlink()
    with pytest.raises(DatasetLayoutError, match=r"seg\.mat: listed in the test split"):
        sun.dataset(root, "test")
    bad = root / "SUNRGBD" / FRAMES["train"][0] / "seg.mat"
    savemat(bad, {"seglabel": SEG + 9, "names": np.array(NAMES, dtype=object)})
    with pytest.raises(InputFileError, match="indices into 'names'"):
        sun.dataset(root, "train").load(0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no frame folder"):
        sun.splits(tmp_path / "empty")


def test_cli_verify(tmp_path: Path, capsys) -> None:
    root = make_sun_official(tmp_path / "sun")
    assert main(["datasets", "verify", str(root), "--format", "sunrgbd_official"]) == 0
    assert "3" in capsys.readouterr().out
