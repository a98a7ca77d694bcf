"""verify_split: exact per-class counts on hand-built masks, and a problem for each bad file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from semseg.data import camvid, folder
from semseg.data.verify import verify_split

IDS = np.array([[0, 1, 2, 255], [2, 2, 1, 0]], np.uint8)  # a: 2, b: 2, c: 3, ignore: 1


def rgb(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 60, np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_counts_per_class(make_folder_dataset) -> None:
    root = make_folder_dataset({
        "p": (rgb(2, 4), IDS),
        "q": (rgb(3, 3), np.zeros((3, 3), np.uint8)),
        "r": (rgb(2, 4), IDS.astype(np.uint16)),  # a 16-bit mask with in-range values is fine
    })
    (source,) = folder.splits(root)
    ticks: list[int] = []
    report = verify_split(source, progress=ticks.append)
    assert ticks == [1, 1, 1]
    assert (report.pairs, report.ok_pairs, report.problems) == (3, 3, [])
    assert report.class_pixels.tolist() == [2 + 9 + 2, 2 + 2, 3 + 3]
    assert report.class_images.tolist() == [3, 2, 2]
    assert report.ignore_pixels == 2
    assert report.to_dict(source.info.classes) == {
        "split": "all", "pairs": 3, "ok_pairs": 3, "ignore_pixels": 2,
        "class_pixels": {"a": 13, "b": 4, "c": 6}, "class_images": {"a": 3, "b": 2, "c": 2},
        "sizes": {"4x2": 2, "3x3": 1}, "problems": [],
    }


def test_each_bad_file_kind_is_a_problem(make_folder_dataset) -> None:
    good = (rgb(2, 4), IDS)
    root = make_folder_dataset({k: good for k in ("good", "empty", "cut", "text", "label",
                                                  "size", "orphan")})
    masks, images = root / "masks", root / "images"
    (images / "empty.png").write_bytes(b"")
    data = png_bytes(np.random.default_rng(0).integers(0, 3, (64, 64), dtype=np.uint8))
    (masks / "cut.png").write_bytes(data[: len(data) // 2])
    (masks / "text.png").write_text("label map to follow\n")
    (masks / "label.png").write_bytes(png_bytes(np.array([[0, 1, 9, 200]], np.uint8)))
    (images / "label.png").write_bytes(png_bytes(rgb(1, 4)))
    (masks / "size.png").write_bytes(png_bytes(np.zeros((4, 2), np.uint8)))
    (masks / "orphan.png").unlink()
    (source,) = folder.splits(root)
    report = verify_split(source)
    assert (report.pairs, report.ok_pairs) == (6, 1)
    problems = report.problems
    assert len(problems) == 6
    assert problems[0] == f"{images / 'orphan.png'}: no mask with this stem in {masks}"
    by_file = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in problems}
    assert by_file[str(images / "empty.png")] == "file is empty (0 bytes)"
    assert by_file[str(masks / "cut.png")].startswith("corrupt or truncated image")
    assert by_file[str(masks / "text.png")] == "not an image file (unrecognized format)"
    assert by_file[str(masks / "label.png")] == "label values 9, 200 outside the allowed 0-2, 255"
    assert by_file[str(masks / "size.png")] == "mask is 2x4 but image size.png is 4x2"
    # Only the good pair is counted.
    assert report.class_pixels.tolist() == [2, 2, 3] and report.ignore_pixels == 1
    assert dict(report.sizes) == {(2, 4): 1}


def test_unknown_colour_is_a_problem(make_folder_dataset) -> None:
    spec = {"classes": ["a", "b"], "palette": [[10, 10, 10], [200, 0, 0]]}
    mask = np.array([[[10, 10, 10], [200, 0, 0]], [[0, 255, 0], [0, 255, 0]]], np.uint8)
    root = make_folder_dataset({"c": (rgb(2, 2), mask)}, classes=spec)
    report = verify_split(folder.splits(root)[0])
    assert report.problems == [
        f"{root / 'masks' / 'c.png'}: 2 pixels have colours not in the palette, e.g. (0,255,0)"
    ]


def test_missing_listed_file_and_empty_split(tmp_path: Path) -> None:
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        (tmp_path / f"{split}annot").mkdir()
    Image.fromarray(rgb(2, 4)).save(tmp_path / "train" / "a.png")
    Image.fromarray(np.where(IDS == 255, 11, IDS)).save(tmp_path / "trainannot" / "a.png")
    (tmp_path / "train.txt").write_text(
        "/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n"
        "/SegNet/CamVid/train/b.png /SegNet/CamVid/trainannot/b.png\n"
    )
    train, val = camvid.splits(tmp_path)
    report = verify_split(train)
    assert report.problems == [f"{tmp_path / 'train' / 'b.png'}: file not found"]
    assert (report.pairs, report.ok_pairs) == (2, 1)
    assert report.class_pixels.tolist() == [2, 2, 3] + [0] * 8
    assert report.ignore_pixels == 1  # CamVid void (11) is counted as ignore
    assert verify_split(val).problems == ["split 'val': no image/mask pairs found"]
