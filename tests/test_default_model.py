"""The shipped default model: loads offline, predicts a real street frame, matches its card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semseg.cli import main as cli_main
from semseg.hub.checkpoint import load_model
from semseg.hub.pretrained import resolve_weights
from semseg.inference.segmenter import Segmenter

STREET = Path(__file__).resolve().parents[1] / "src" / "semseg" / "assets" / "street.jpg"


def test_default_predicts_the_bundled_street_frame() -> None:
    result = Segmenter.from_pretrained("default").predict(STREET)
    h, w = result.mask.shape
    assert (h, w) == (360, 480)
    names = result.info.classes
    bottom = result.mask[int(0.85 * h):, int(0.35 * w):int(0.65 * w)]  # lane ahead of the camera
    top = result.mask[: int(0.12 * h), int(0.3 * w):int(0.5 * w)]  # open sky above the street
    assert (bottom == names.index("road")).mean() > 0.9
    assert (top == names.index("sky")).mean() > 0.8
    shares = result.class_shares()
    assert max(shares, key=shares.get) == "road"


def test_default_reproduces_its_card_on_camvid_val(camvid_root: Path, tmp_path: Path) -> None:
    _, _, meta = load_model(resolve_weights("default"))
    report = tmp_path / "eval.json"
    rc = cli_main(["eval", "default", "--data", str(camvid_root), "--split", "val",
                   "--json", str(report), "--boundary-tolerance", "-1"])
    assert rc == 0
    measured = json.loads(report.read_text())
    assert measured["images"] == 101
    assert measured["miou"] == pytest.approx(meta["metrics"]["miou"], abs=0.005)
