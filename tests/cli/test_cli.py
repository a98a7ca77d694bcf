"""The ``semseg`` command line: help/version, one-line errors with exit 2, ``datasets verify``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg import __version__
from semseg.cli import main

SEMSEG = Path(sys.executable).parent / "semseg"
IDS = np.array([[0, 1, 2, 255], [2, 2, 1, 0]], np.uint8)


def rgb(h: int = 2, w: int = 4) -> np.ndarray:
    return np.full((h, w, 3), 120, np.uint8)


def encoded(array: np.ndarray | Image.Image, fmt: str = "PNG", **kw) -> bytes:
    img = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def verify(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["datasets", "verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# --- top level ----------------------------------------------------------------------------------


def test_help_and_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"semseg {__version__}"
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "datasets" in capsys.readouterr().out


def test_no_subcommand_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "usage: semseg" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["datasets"])  # the action (verify) is required
    assert exc.value.code == 2


def test_unknown_format_is_one_line(capsys, tmp_path: Path) -> None:
    code, out, err = verify(capsys, tmp_path, "--format", "nope")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("semseg datasets: error: unknown dataset format 'nope'; choose from ")
    assert "camvid" in err and "folder" in err


def test_missing_root_is_one_line(capsys, tmp_path: Path) -> None:
    code, out, err = verify(capsys, tmp_path / "absent", "--format", "folder")
    assert (code, out) == (2, "")
    assert err == (
        f"semseg datasets: error: {tmp_path / 'absent'}: folder not found (expected "
        "ROOT/images/[SPLIT/] and ROOT/masks/[SPLIT/] with matching file names)\n"
    )


# --- verify: files that must be accepted --------------------------------------------------------


def awkward_but_valid(make_folder_dataset) -> Path:
    """A folder dataset whose every pair is readable though none is a plain RGB PNG."""
    root = make_folder_dataset({"plain": (rgb(), IDS)})
    images, masks = root / "images", root / "masks"
    rgba = np.concatenate([rgb(), np.zeros((2, 4, 1), np.uint8)], axis=2)
    (images / "rgba.png").write_bytes(encoded(rgba))
    (images / "gray.png").write_bytes(encoded(np.full((2, 4), 7, np.uint8)))
    (images / "cmyk.jpg").write_bytes(encoded(Image.new("CMYK", (4, 2), (0, 255, 255, 0)),
                                              "JPEG"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 4 wide x 2 high, shown 2 wide x 4 high
    (images / "rotated.jpg").write_bytes(encoded(rgb(2, 4), "JPEG", exif=exif))
    (images / "wide16.png").write_bytes(encoded(rgb()))
    p_mask = Image.fromarray(IDS, mode="P")
    p_mask.putpalette([255, 0, 0] * 256)
    for stem, mask in (("rgba", IDS), ("gray", IDS), ("cmyk", p_mask), ("rotated", IDS.T),
                       ("wide16", IDS.astype(np.uint16))):
        (masks / f"{stem}.png").write_bytes(encoded(mask))
    return root


def test_verify_accepts_awkward_valid_files(capsys, make_folder_dataset) -> None:
    root = awkward_but_valid(make_folder_dataset)
    code, out, err = verify(capsys, root, "--format", "folder")
    assert (code, err) == (0, "")
    assert "all: 6 pairs, 6 ok, sizes: 4x2 (5), 2x4 (1)" in out
    assert out.rstrip().endswith("no problems found")
    code, out, _ = verify(capsys, root, "--format", "folder", "--json")
    report = json.loads(out)
    (split,) = report["splits"]
    assert report["classes"] == ["a", "b", "c"]
    assert split["class_pixels"] == {"a": 12, "b": 12, "c": 18} and split["ignore_pixels"] == 6


# --- verify: files that must be reported --------------------------------------------------------


def broken_dataset(make_folder_dataset) -> tuple[Path, dict[str, str]]:
    """A folder dataset with one pair of every bad kind; returns root and {file: problem}."""
    stems = ("good", "empty", "cutpng", "cutjpg", "text", "deep", "label", "size", "orphan")
    root = make_folder_dataset({s: (rgb(), IDS) for s in stems})
    images, masks = root / "images", root / "masks"
    noise = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    (masks / "empty.png").write_bytes(b"")
    png = encoded(noise[..., 0] % 3)
    (masks / "cutpng.png").write_bytes(png[: len(png) // 2])
    jpg = encoded(noise, "JPEG")
    (images / "cutjpg.png").unlink()
    (images / "cutjpg.jpg").write_bytes(jpg[: len(jpg) // 2])
    (images / "text.png").write_text("not a picture\n")
    (masks / "deep.png").write_bytes(encoded(np.array([[0, 1, 300, 2], [1000, 0, 0, 1]],
                                                      np.uint16)))
    (masks / "label.png").write_bytes(encoded(np.array([[0, 9, 1, 2], [0, 0, 0, 9]], np.uint8)))
    (masks / "size.png").write_bytes(encoded(np.zeros((3, 3), np.uint8)))
    (masks / "orphan.png").unlink()
    expected = {
        f"{images / 'orphan.png'}": f"no mask with this stem in {masks}",
        f"{masks / 'empty.png'}": "file is empty (0 bytes)",
        f"{masks / 'cutpng.png'}": "corrupt or truncated image",
        f"{images / 'cutjpg.jpg'}": "corrupt or truncated image",
        f"{images / 'text.png'}": "not an image file (unrecognized format)",
        f"{masks / 'deep.png'}": "label values 300, 1000 outside the allowed 0-2, 255",
        f"{masks / 'label.png'}": "label values 9 outside the allowed 0-2, 255",
        f"{masks / 'size.png'}": "mask is 3x3 but image size.png is 4x2",
    }
    return root, expected


def test_verify_reports_every_bad_file(capsys, make_folder_dataset) -> None:
    root, expected = broken_dataset(make_folder_dataset)
    code, out, err = verify(capsys, root, "--format", "folder")
    assert code == 2
    assert err == f"semseg datasets: error: {len(expected)} problem(s) found in {root}\n"
    lines = [line.removeprefix("problem: ") for line in out.splitlines()
             if line.startswith("problem: ")]
    assert len(lines) == len(expected)
    for line in lines:
        path, problem = line.split(": ", 1)
        assert problem.startswith(expected[path]), line
    assert "all: 8 pairs, 1 ok, sizes: 4x2 (1)" in out
    # --json holds the same problems; --max-problems shortens only the table.
    code, out, _ = verify(capsys, root, "--format", "folder", "--json")
    assert code == 2 and len(json.loads(out)["splits"][0]["problems"]) == len(expected)
    code, out, _ = verify(capsys, root, "--format", "folder", "--max-problems", "3")
    assert out.count("problem: ") == 3 and f"... and {len(expected) - 3} more problems" in out


def test_verify_colour_masks_with_void_and_unknown_colour(capsys, make_folder_dataset) -> None:
    spec = {"classes": ["a", "b"], "palette": [[10, 10, 10], [200, 0, 0]],
            "void_colors": [[0, 0, 0]]}
    ok = np.array([[[10, 10, 10], [200, 0, 0], [0, 0, 0]]], np.uint8)
    root = make_folder_dataset({"ok": (rgb(1, 3), ok)}, classes=spec)
    code, out, err = verify(capsys, root, "--format", "folder", "--json")
    assert (code, err) == (0, "")
    split = json.loads(out)["splits"][0]
    assert split["class_pixels"] == {"a": 1, "b": 1} and split["ignore_pixels"] == 1
    bad = ok.copy()
    bad[0, 0] = (1, 2, 3)
    make_folder_dataset({"bad": (rgb(1, 3), bad)}, classes=spec)
    code, out, err = verify(capsys, root, "--format", "folder")
    assert code == 2 and err.count("\n") == 1
    mask = root / "masks" / "bad.png"
    assert f"problem: {mask}: 1 pixels have colours not in the palette, e.g. (1,2,3)\n" in out


def test_verify_split_and_builtin_palette(capsys, make_folder_dataset) -> None:
    make_folder_dataset({"a": (rgb(1, 3), np.array([[0, 10, 255]]))}, classes=None, split="train")
    root = make_folder_dataset({"b": (rgb(1, 2), np.array([[3, 3]]))}, classes=None, split="val")
    code, out, err = verify(capsys, root, "--format", "folder", "--palette", "camvid",
                            "--split", "val", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert [s["split"] for s in report["splits"]] == ["val"]
    assert report["splits"][0]["class_pixels"]["road"] == 2
    code, out, err = verify(capsys, root, "--format", "folder", "--palette", "camvid",
                            "--split", "test")
    assert (code, out) == (2, "")
    assert err == f"semseg datasets: error: {root}: split 'test' not found\n"


def test_verify_camvid_layout_with_missing_file(capsys, tmp_path: Path) -> None:
    for d in ("train", "trainannot"):
        (tmp_path / d).mkdir()
    (tmp_path / "train" / "a.png").write_bytes(encoded(rgb()))
    (tmp_path / "trainannot" / "a.png").write_bytes(encoded(np.where(IDS == 255, 11, IDS)))
    (tmp_path / "train.txt").write_text(
        "/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n"
        "/SegNet/CamVid/train/gone.png /SegNet/CamVid/trainannot/gone.png\n"
    )
    code, out, err = verify(capsys, tmp_path, "--format", "camvid", "--json")
    assert code == 2 and err.count("\n") == 1
    (split,) = json.loads(out)["splits"]
    assert split["problems"] == [f"{tmp_path / 'train' / 'gone.png'}: file not found"]
    assert (split["pairs"], split["ok_pairs"], split["ignore_pixels"]) == (2, 1, 1)


# --- the installed console script ---------------------------------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess:
    if not SEMSEG.exists():
        pytest.skip(f"console script not installed at {SEMSEG} (pip install -e .)")
    return subprocess.run([str(SEMSEG), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_script_help_and_version() -> None:
    assert run_script("--help").returncode == 0
    done = run_script("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"semseg {__version__}")


def test_script_bad_dataset_exits_2_with_one_line(make_folder_dataset) -> None:
    root, expected = broken_dataset(make_folder_dataset)
    done = run_script("datasets", "verify", root, "--format", "folder")
    assert done.returncode == 2
    assert done.stderr == f"semseg datasets: error: {len(expected)} problem(s) found in {root}\n"
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.count("problem: ") == len(expected)


def test_script_layout_error_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    done = run_script("datasets", "verify", tmp_path, "--format", "folder")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"semseg datasets: error: {tmp_path / 'masks'}: folder not found")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


# --- the real CamVid ----------------------------------------------------------------------------


def test_verify_real_camvid(capsys, camvid_root: Path) -> None:
    code, out, err = verify(capsys, camvid_root, "--format", "camvid", "--json")
    assert (code, err) == (0, "")
    splits = {s["split"]: s for s in json.loads(out)["splits"]}
    assert {k: (s["pairs"], s["ok_pairs"]) for k, s in splits.items()} == {
        "train": (367, 367), "val": (101, 101)}
    assert splits["train"]["sizes"] == {"480x360": 367}
    train = splits["train"]
    total = sum(train["class_pixels"].values()) + train["ignore_pixels"]
    assert total == 367 * 360 * 480
    # Shares published in the dataset README (train): road 31.7%, building 23.3%, void 3.9%.
    assert round(100 * train["class_pixels"]["road"] / total, 1) == 31.7
    assert round(100 * train["class_pixels"]["building"] / total, 1) == 23.3
    assert round(100 * train["ignore_pixels"] / total, 1) == 3.9
