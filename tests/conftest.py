"""Shared fixtures: the real CamVid folder and builders of small image/mask files on disk."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    """The real CamVid (SegNet layout) beside the repository; skips the test when absent."""
    if not (CAMVID / "train").is_dir():
        pytest.skip(
            f"CamVid not found at {CAMVID}: tests needing real data run in CI, "
            "where ../shared exists"
        )
    return CAMVID


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Import a script of ``benchmarks/`` (not a package) by name, e.g. ``"zoo"``."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}",
                                                      REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    return load


def save_array(path: Path, array: np.ndarray | Image.Image, **save_kw) -> Path:
    """Write an array (or PIL image) to ``path``, creating folders; the suffix picks the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(array, Image.Image):
        array = np.asarray(array)
        if array.dtype not in (np.uint8, np.uint16):  # int64 literals in tests: 8-bit files
            array = array.astype(np.uint8)
    img = array if isinstance(array, Image.Image) else Image.fromarray(array)
    img.save(path, **save_kw)
    return path


@pytest.fixture
def write_image() -> Callable[..., Path]:
    """``write_image(path, array_or_pil, **save_kw) -> path``."""
    return save_array


@pytest.fixture
def make_folder_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Build a folder-format dataset in ``tmp_path``.

    ``make(pairs, classes="a\\nb\\nc\\n", split=None, image_ext=".png")`` where ``pairs`` maps a
    stem to ``(image (H, W, 3) uint8, mask (H, W) uint8 or (H, W, 3) colours)``; ``classes`` is
    written to classes.txt (a str) or palette.json (a dict), or nothing when None.
    """

    def make(
        pairs: dict[str, tuple[np.ndarray, np.ndarray]],
        classes: str | dict | None = "a\nb\nc\n",
        split: str | None = None,
        image_ext: str = ".png",
        name: str = "ds",
    ) -> Path:
        import json

        root = tmp_path / name
        sub = Path(split) if split else Path()
        (root / "images" / sub).mkdir(parents=True, exist_ok=True)
        (root / "masks" / sub).mkdir(parents=True, exist_ok=True)
        for stem, (image, mask) in pairs.items():
            save_array(root / "images" / sub / f"{stem}{image_ext}", image)
            save_array(root / "masks" / sub / f"{stem}.png", mask)
        if isinstance(classes, str):
            (root / "classes.txt").write_text(classes)
        elif isinstance(classes, dict):
            (root / "palette.json").write_text(json.dumps(classes))
        return root

    return make
