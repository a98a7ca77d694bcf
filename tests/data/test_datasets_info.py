"""``semseg datasets info`` and the generated docs/datasets.md, for every format and label set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.cli import main
from semseg.data import DATASET_INFOS, FORMATS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [*FORMATS, *DATASET_INFOS])
def test_info_prints_tree_and_classes(name: str, capsys) -> None:
    assert main(["datasets", "info", name]) == 0
    out = capsys.readouterr().out
    assert "ROOT/" in out  # the expected tree
    if name in DATASET_INFOS:
        info = DATASET_INFOS[name]
        assert f"{info.name}: {info.num_classes} classes" in " ".join(out.split())
        assert info.classes[-1] in out


def test_palette_png_has_each_colour_beside_its_class(tmp_path: Path, capsys) -> None:
    out = tmp_path / "swatch.png"
    assert main(["datasets", "info", "coco_stuff", "--palette-png", str(out)]) == 0
    swatch = np.asarray(Image.open(out).convert("RGB"))
    info = DATASET_INFOS["coco_stuff"]
    assert swatch.shape == (40 * 18 + 4, 5 * 260, 3)  # 171 classes in columns of 40
    for k in (0, 39, 40, 170):
        x, y = (k // 40) * 260 + 4 + 18, (k % 40) * 18 + 2 + 7  # centre of the colour box
        assert tuple(swatch[y, x]) == info.palette[k]
    assert "palette swatch written" in capsys.readouterr().out


def test_info_errors(tmp_path: Path, capsys) -> None:
    assert main(["datasets", "info", "kitti"]) == 2
    assert "unknown dataset 'kitti'" in capsys.readouterr().err
    assert main(["datasets", "info", "folder", "--palette-png", str(tmp_path / "x.png")]) == 2
    assert "no fixed palette" in capsys.readouterr().err


def test_docs_page_is_generated_from_the_modules(benchmark_script) -> None:
    module = benchmark_script("dataset_docs")
    page = (REPO / "docs" / "datasets.md").read_text()
    assert page == module.render(), "run: python benchmarks/dataset_docs.py"
    for info in DATASET_INFOS.values():
        assert f"<code>{info.name}</code>: {info.num_classes} classes" in page
