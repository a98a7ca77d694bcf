"""Background editing: exact pixels on hand-built masks, a real photo, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semseg.cli import main
from semseg.data.info import DatasetInfo, default_palette
from semseg.errors import ConfigError
from semseg.fileio.images import read_image, save_image
from semseg.inference.background import change_background, foreground_mask
from semseg.inference.result import SegmentationResult

NAMES = ("background", "cat", "person")
MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


def _case() -> tuple[np.ndarray, np.ndarray]:
    """A 4x4 image with a 2x2 'person' (id 2) at the top left and a 'cat' pixel (id 1)."""
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 200  # red everywhere
    image[:2, :2] = (10, 20, 30)
    mask = np.zeros((4, 4), np.int64)
    mask[:2, :2] = 2
    mask[3, 3] = 1
    return image, mask


def test_color_mode_replaces_exactly_the_background() -> None:
    image, mask = _case()
    out = change_background(image, mask, mode="color", color=(0, 128, 255), class_names=NAMES)
    assert (out[:2, :2] == (10, 20, 30)).all()
    assert (out[2:, :] == (0, 128, 255)).all() and (out[:2, 2:] == (0, 128, 255)).all()


def test_gray_mode_uses_rgb_luma_weights() -> None:
    image, mask = _case()
    out = change_background(image, mask, mode="gray", class_names=NAMES)
    assert tuple(out[3, 0]) == (60, 60, 60)  # round(0.299 * 200) for pure red (200, 0, 0)
    assert (out[:2, :2] == (10, 20, 30)).all()


def test_classes_by_id_and_all_foreground() -> None:
    image, mask = _case()
    cat_only = change_background(image, mask, mode="color", classes=[1])
    assert tuple(cat_only[3, 3]) == (200, 0, 0) and tuple(cat_only[0, 0]) == (0, 0, 0)
    every = foreground_mask(mask, classes=None, class_names=NAMES)
    assert every.sum() == 5  # 4 person pixels + 1 cat pixel, background excluded


def test_image_mode_resizes_the_new_background() -> None:
    image, mask = _case()
    bg = np.full((8, 8, 3), (5, 6, 7), np.uint8)
    out = change_background(image, mask, mode="image", background_image=bg, class_names=NAMES)
    assert tuple(out[3, 0]) == (5, 6, 7) and tuple(out[0, 0]) == (10, 20, 30)


def test_blur_of_a_flat_background_keeps_it_and_feather_blends_the_edge() -> None:
    image = np.full((21, 21, 3), 100, np.uint8)
    mask = np.zeros((21, 21), np.int64)
    mask[:, :10] = 2
    image[:, :10] = 200
    hard = change_background(image, mask, mode="color", color=(0, 0, 0), class_names=NAMES)
    soft = change_background(image, mask, mode="color", color=(0, 0, 0), feather=2.0,
                             class_names=NAMES)
    assert tuple(hard[10, 9]) == (200, 200, 200) and tuple(hard[10, 10]) == (0, 0, 0)
    assert 0 < soft[10, 10, 0] < 200 and 0 < soft[10, 9, 0] < 200  # blended across the cut
    assert tuple(soft[10, 0]) == (200, 200, 200) and tuple(soft[10, 20]) == (0, 0, 0)
    blurred = change_background(image, mask, mode="blur", blur_kernel=5, class_names=NAMES)
    assert tuple(blurred[10, 20]) == (100, 100, 100)  # flat far from the edge stays flat


def test_segmentation_result_supplies_names() -> None:
    image, mask = _case()
    info = DatasetInfo("toy", NAMES, default_palette(3))
    probs = np.zeros((3, 4, 4), np.float32)
    result = SegmentationResult(image=image, mask=mask, probs=probs, info=info)
    out = change_background(image, result, mode="color", color=(1, 2, 3))
    assert tuple(out[0, 0]) == (10, 20, 30) and tuple(out[3, 3]) == (1, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sepia"}, "unknown background mode 'sepia'; choose from blur, color"),
        ({"mode": "image"}, "mode 'image' needs background_image"),
        ({"mode": "color", "color": (0, 300, 0)}, "color must be three integers 0..255"),
        ({"mode": "blur", "blur_kernel": 4}, "blur_kernel must be an odd integer >= 3"),
        ({"classes": ["dog"]}, "unknown class name.*'dog'.*valid names: background, cat"),
        ({"feather": -1.0}, "feather must be >= 0"),
    ],
)
def test_bad_options_raise_config_errors(kwargs: dict, message: str) -> None:
    image, mask = _case()
    with pytest.raises(ConfigError, match=message):
        change_background(image, mask, class_names=NAMES, **kwargs)


def test_mask_size_must_match() -> None:
    image, _ = _case()
    with pytest.raises(ConfigError, match=r"mask \(3, 3\) and image \(4, 4\) differ"):
        change_background(image, np.zeros((3, 3), bool), mode="gray")


def test_cli_blurs_around_the_astronaut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    data = pytest.importorskip("skimage.data")
    if not (MIRROR / "espnetv2").is_dir():
        pytest.skip(f"weights mirror {MIRROR} absent")
    monkeypatch.setenv("SEMSEG_WEIGHTS_MIRROR", str(MIRROR))
    monkeypatch.setenv("SEMSEG_CACHE", str(tmp_path / "cache"))
    src = save_image(tmp_path / "astronaut.png", data.astronaut())
    out = tmp_path / "out.png"
    code = main(["background", "espnetv2-voc", str(src), "-o", str(out), "--mode", "color",
                 "--color", "0,255,0"])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"{out} (person: 4")  # ~42% of the photo
    edited, original = read_image(out), data.astronaut()
    assert (edited[40:150, 170:280] == original[40:150, 170:280]).mean() > 0.95  # face kept
    assert (edited[380:500, 300:480] == (0, 255, 0)).all(axis=2).mean() > 0.95  # helmet gone


def test_cli_rejects_bad_color_before_loading(tmp_path: Path, capsys) -> None:
    assert main(["background", "espnetv2-voc", "x.png", "-o", str(tmp_path / "o.png"),
                 "--mode", "color", "--color", "red"]) == 2
    assert "--color 'red': expected R,G,B" in capsys.readouterr().err
