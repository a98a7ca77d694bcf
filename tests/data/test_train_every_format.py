"""One real training step (semseg.training.train.main) on each format's tiny official-layout
fixture."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from semseg.data import FORMATS
from semseg.hub.checkpoint import load_checkpoint
from semseg.training.config import TrainConfig
from semseg.training.train import main


def build_camvid(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_camvid import MASK, make_camvid

    make_camvid(root, "train", {"a": MASK, "b": MASK[::-1]})
    make_camvid(root, "val", {"c": MASK})
    return "train", "val"


def build_camvid32(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_camvid32 import make_raw, rgb

    make_raw(root, np.concatenate([rgb("Sky", "Road", "Void", "Tree")] * 2))  # (2, 4, 3)
    return "all", "all"


def build_voc(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_voc import MASK, make_voc

    make_voc(root, {"train": ["a"], "val": ["b"]}, {"a": MASK, "b": MASK[::-1]})
    return "train", "val"


def build_coco(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_coco import H, W, make_stuff

    make_stuff(root, np.array([[0, 1, 12, 91, 181, 255]] * H, np.uint8)[:, :W])
    return "val", "val"


def build_ade20k(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_ade20k import make_ade

    make_ade(root, np.array([[3, 1, 2], [149, 150, 7]], np.uint8))  # no 0: every pixel counts
    return "val", "val"


def build_cityscapes(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_cityscapes import make_city

    make_city(root, "train")
    make_city(root, "val")
    return "train", "val"


def build_nyuv2(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    pytest.importorskip("h5py", reason="NYUv2 .mat files need h5py")
    from .test_nyuv2 import make_nyu

    make_nyu(root)
    return "train", "test"


def build_sunrgbd(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_sunrgbd import make_sun

    make_sun(root, "train")
    make_sun(root, "test", n=1)
    return "train", "test"


def build_sunrgbd_official(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_sunrgbd_official import make_sun_official

    make_sun_official(root)
    return "train", "test"


def build_folder(root: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    from .test_folder import IDS, rgb

    make = request.getfixturevalue("make_folder_dataset")  # builds under tmp_path / name
    assert make({"x": (rgb(), IDS), "y": (rgb(), IDS)}, name=root.name) == root
    return "all", "all"


BUILDERS: dict[str, Callable[[Path, pytest.FixtureRequest], tuple[str, str]]] = {
    "camvid": build_camvid, "camvid32": build_camvid32, "voc": build_voc, "coco": build_coco,
    "ade20k": build_ade20k, "cityscapes": build_cityscapes, "nyuv2": build_nyuv2,
    "sunrgbd": build_sunrgbd, "sunrgbd_official": build_sunrgbd_official,
    "folder": build_folder,
}
# (input channels, classes of the default label set), from each dataset's published definition
EXPECTED = {"camvid": (3, 11), "camvid32": (3, 11), "voc": (3, 21), "coco": (3, 171),
            "ade20k": (3, 150), "cityscapes": (3, 19), "nyuv2": (4, 40), "sunrgbd": (4, 37),
            "sunrgbd_official": (4, 37),
            "folder": (3, 3)}


def test_every_format_has_a_builder() -> None:
    assert set(BUILDERS) == set(FORMATS) == set(EXPECTED)


def train_one_step(root: Path, name: str, train_split: str, val_split: str, out: Path) -> dict:
    """semseg.training.train.main for one step of batch 1 on a tiny LiteFPN."""
    # 64x64: the stride-32 stage keeps 2x2 pixels, which BatchNorm needs at batch size 1
    return main(TrainConfig(
        data=str(root), format=name, train_split=train_split, val_split=val_split,
        arch="litefpn", arch_kwargs={"decoder_channels": 8}, pretrained_backbone=False,
        epochs=1, steps_per_epoch=1, batch_size=1, crop_size=(64, 64), workers=0, threads=1,
        class_weighting="none", device="cpu", out_dir=str(out)))


def read_log(out: Path) -> dict:
    """The single epoch record of a run's log.jsonl."""
    (record,) = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return record


@pytest.mark.parametrize("name", list(FORMATS))
def test_one_training_step(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    root, out = tmp_path / "data", tmp_path / "run"
    summary = train_one_step(root, name, *BUILDERS[name](root, request), out)
    assert summary["finished"] and summary["epochs"] == 1
    ckpt = load_checkpoint(out / "last.pt")
    channels, classes = EXPECTED[name]
    assert ckpt["spec"]["in_channels"] == channels
    assert len(ckpt["spec"]["info"]["classes"]) == classes
    stem = next(k for k in ckpt["state_dict"] if k.endswith("weight"))  # first conv
    assert ckpt["state_dict"][stem].shape[1] == channels
    record = read_log(out)
    assert record["epoch"] == 1 and math.isfinite(record["loss"]) and record["loss"] > 0


def test_crop_of_only_ignored_pixels_trains(tmp_path: Path) -> None:
    # An all-unlabeled ADE20K frame: every pixel is ignored, so cross-entropy's mean is 0/0.
    from .test_ade20k import make_ade

    root, out = make_ade(tmp_path / "data", np.zeros((2, 3), np.uint8)), tmp_path / "run"
    train_one_step(root, "ade20k", "val", "val", out)
    assert read_log(out)["loss"] == 0.0
    assert (out / "last.pt").is_file()
