"""read_image / read_mask on real files of every awkward kind, and the atomic writers."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.data.dataset import encode_labels, identity_lut
from semseg.errors import InputFileError, LabelError
from semseg.fileio.images import list_images, read_image, read_mask, save_image

READERS = [read_image, read_mask]


def encoded(array: np.ndarray | Image.Image, fmt: str, **save_kw) -> bytes:
    img = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kw)
    return buf.getvalue()


def noise(h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def assert_one_line_error(exc: pytest.ExceptionInfo, path: Path, problem: str) -> None:
    msg = str(exc.value)
    assert msg.startswith(f"{path}: "), msg
    assert problem in msg
    assert "\n" not in msg


# --- unreadable files -------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_missing_file(tmp_path: Path, reader) -> None:
    path = tmp_path / "nope.png"
    with pytest.raises(InputFileError) as exc:
        reader(path)
    assert_one_line_error(exc, path, "file not found")


@pytest.mark.parametrize("reader", READERS)
def test_zero_byte_file(tmp_path: Path, reader) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputFileError) as exc:
        reader(path)
    assert_one_line_error(exc, path, "file is empty (0 bytes)")


@pytest.mark.parametrize("reader", READERS)
def test_directory_is_not_an_image(tmp_path: Path, reader) -> None:
    path = tmp_path / "dir.png"
    path.mkdir()
    with pytest.raises(InputFileError) as exc:
        reader(path)
    assert_one_line_error(exc, path, "not a regular file")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path: Path, reader, fmt: str, suffix: str) -> None:
    data = encoded(noise(), fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut
    with pytest.raises(InputFileError) as exc:
        reader(path)
    assert_one_line_error(exc, path, "corrupt or truncated image")


@pytest.mark.parametrize("reader", READERS)
def test_text_file_named_png(tmp_path: Path, reader) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(InputFileError) as exc:
        reader(path)
    assert_one_line_error(exc, path, "not an image file")


# --- image modes --------------------------------------------------------------------------------


def test_rgb_png_round_trip(tmp_path: Path) -> None:
    arr = noise()
    path = tmp_path / "x.png"
    path.write_bytes(encoded(arr, "PNG"))
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3)
    np.testing.assert_array_equal(out, arr)


def test_rgba_image_drops_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = noise(4, 5)
    rgba[..., 3] = np.arange(20, dtype=np.uint8).reshape(4, 5)  # alpha 0 included: kept as is
    path = tmp_path / "a.png"
    path.write_bytes(encoded(rgba, "PNG"))
    out = read_image(path)
    assert out.shape == (4, 5, 3)
    np.testing.assert_array_equal(out, rgba[..., :3])


def test_grayscale_image_becomes_three_channels(tmp_path: Path) -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = tmp_path / "g.png"
    path.write_bytes(encoded(gray, "PNG"))
    out = read_image(path)
    assert out.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_16bit_grayscale_image_is_scaled_to_8bit(tmp_path: Path) -> None:
    path = tmp_path / "g16.png"
    path.write_bytes(encoded(np.array([[0, 65535, 32896]], np.uint16), "PNG"))
    np.testing.assert_array_equal(read_image(path)[0, :, 0], [0, 255, 128])
    # Scaled by bit depth, not by content: a dark 16-bit frame stays dark.
    path.write_bytes(encoded(np.array([[0, 255, 200]], np.uint16), "PNG"))
    np.testing.assert_array_equal(read_image(path)[0, :, 0], [0, 1, 1])


def test_palette_image_reads_colours(tmp_path: Path) -> None:
    p = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    p.putpalette([10, 20, 30, 200, 0, 0])
    path = tmp_path / "p.png"
    p.save(path)
    np.testing.assert_array_equal(read_image(path)[0], [[10, 20, 30], [200, 0, 0]])


@pytest.mark.parametrize(
    "cmyk,rgb", [((0, 255, 255, 0), (255, 0, 0)), ((255, 0, 255, 0), (0, 255, 0)),
                 ((0, 0, 0, 0), (255, 255, 255))]
)
def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path, cmyk, rgb) -> None:
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (16, 8), cmyk).save(path, quality=95)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
    out = read_image(path)
    assert out.shape == (8, 16, 3)
    assert np.abs(out.astype(int) - rgb).max() <= 3


@pytest.mark.parametrize(
    "orientation,rows,cols,k", [(6, (0, 1), (4, 5), -1), (8, (8, 9), (0, 1), 1)]
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, rows, cols, k: int) -> None:
    # A 6x10 (H x W) frame stored sideways; a red 2x2 block marks its stored top-left corner.
    arr = np.zeros((6, 10, 3), np.uint8)
    arr[:2, :2] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=100, subsampling=0)
    out = read_image(path)
    assert out.shape == (10, 6, 3)  # displayed upright: width and height swap
    # 6 = rotate 90° clockwise (top-left goes top-right), 8 = counter-clockwise (to bottom-left)
    red = np.argwhere(out[..., 0] > 128)
    assert sorted(set(red[:, 0])) == list(rows) and sorted(set(red[:, 1])) == list(cols)
    assert len(red) == 4
    assert np.abs(out.astype(int) - np.rot90(arr, k=k)).max() <= 8


def test_invalid_exif_orientation_leaves_pixels_as_stored(tmp_path: Path) -> None:
    # Big-endian TIFF block with one entry: Orientation (0x0112), SHORT, value 9 (undefined).
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 9, 0) + b"\0\0\0\0"
    path = tmp_path / "bad_exif.jpg"
    arr = np.zeros((8, 6, 3), np.uint8)
    arr[:2, :2] = 255  # a white corner block that would move under any rotation
    tiff = b"Exif\0\0MM\0\x2a\0\0\0\x08" + ifd
    Image.fromarray(arr).save(path, exif=tiff, quality=100, subsampling=0)
    with Image.open(path) as im:
        assert im.getexif()[0x0112] == 9
    out = read_image(path)
    assert out.shape == (8, 6, 3)
    assert np.abs(out.astype(int) - arr).max() <= 8


# --- masks --------------------------------------------------------------------------------------


def test_index_mask_values(tmp_path: Path) -> None:
    mask = np.array([[0, 1, 2], [255, 1, 0]], np.uint8)
    path = tmp_path / "m.png"
    path.write_bytes(encoded(mask, "PNG"))
    out = read_mask(path)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, mask)


def test_palette_mode_mask_gives_indices_not_colours(tmp_path: Path) -> None:
    p = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8), mode="P")
    p.putpalette([10, 20, 30, 200, 0, 0, 0, 200, 0, 0, 0, 200])
    path = tmp_path / "p.png"
    p.save(path)
    np.testing.assert_array_equal(read_mask(path), [[0, 1], [2, 3]])


def test_16bit_mask_keeps_values_and_out_of_range_ones_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "m16.png"
    path.write_bytes(encoded(np.array([[0, 1, 300], [2, 1000, 1]], np.uint16), "PNG"))
    raw = read_mask(path)
    np.testing.assert_array_equal(raw, [[0, 1, 300], [2, 1000, 1]])
    lut = identity_lut(3, 255)
    with pytest.raises(LabelError) as exc:
        encode_labels(raw, lut, path)
    assert str(exc.value) == f"{path}: label values 300, 1000 outside the allowed 0-2, 255"


def test_16bit_mask_within_range_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "ok16.png"
    path.write_bytes(encoded(np.array([[0, 1], [2, 255]], np.uint16), "PNG"))
    out = encode_labels(read_mask(path), identity_lut(3, 255), path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1], [2, 255]])


def test_out_of_range_labels_listed_with_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(encoded(np.array([[0, 7, 12], [12, 254, 1]], np.uint8), "PNG"))
    with pytest.raises(LabelError) as exc:
        encode_labels(read_mask(path), identity_lut(3, 255), path)
    assert str(exc.value) == f"{path}: label values 7, 12, 254 outside the allowed 0-2, 255"


PALETTE = np.array([[128, 64, 128], [0, 0, 142], [220, 20, 60]])


def colour_mask(ids: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    return palette[ids].astype(np.uint8)


def test_colour_mask_maps_to_exact_indices(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 2], [2, 1, 0]])
    path = tmp_path / "c.png"
    path.write_bytes(encoded(colour_mask(ids), "PNG"))
    np.testing.assert_array_equal(read_mask(path, palette=PALETTE), ids)


def test_rgba_colour_mask_ignores_alpha(tmp_path: Path) -> None:
    ids = np.array([[0, 2], [1, 1]])
    rgba = np.concatenate([colour_mask(ids), np.full((2, 2, 1), 255, np.uint8)], axis=2)
    path = tmp_path / "c.png"
    path.write_bytes(encoded(rgba, "PNG"))
    np.testing.assert_array_equal(read_mask(path, palette=PALETTE), ids)


def test_colour_mask_unknown_colour_is_listed(tmp_path: Path) -> None:
    rgb = colour_mask(np.array([[0, 1, 2], [2, 1, 0]]))
    rgb[0, 0] = rgb[1, 2] = (1, 2, 3)
    path = tmp_path / "c.png"
    path.write_bytes(encoded(rgb, "PNG"))
    with pytest.raises(LabelError) as exc:
        read_mask(path, palette=PALETTE)
    assert str(exc.value) == (
        f"{path}: 2 pixels have colours not in the palette, e.g. (1,2,3)"
    )


def test_void_colours_become_ignore_index(tmp_path: Path) -> None:
    rgb = colour_mask(np.array([[0, 1], [2, 0]]))
    rgb[0, 1] = (0, 0, 0)
    path = tmp_path / "c.png"
    path.write_bytes(encoded(rgb, "PNG"))
    out = read_mask(path, palette=PALETTE, void_colors=np.array([[0, 0, 0]]), ignore_index=255)
    np.testing.assert_array_equal(out, [[0, 255], [2, 0]])


def test_gray_rgb_mask_without_palette_reads_as_indices(tmp_path: Path) -> None:
    ids = np.array([[0, 1], [2, 255]], np.uint8)
    path = tmp_path / "g.png"
    path.write_bytes(encoded(np.repeat(ids[..., None], 3, axis=2), "PNG"))
    np.testing.assert_array_equal(read_mask(path), ids)


def test_colour_mask_without_palette_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.png"
    path.write_bytes(encoded(colour_mask(np.array([[0, 1]])), "PNG"))
    with pytest.raises(LabelError) as exc:
        read_mask(path)
    assert_one_line_error(exc, path, "colour mask found but no palette given")


def test_cmyk_mask_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.jpg"
    Image.new("CMYK", (4, 4), (0, 0, 0, 0)).save(path)
    with pytest.raises(InputFileError) as exc:
        read_mask(path)
    assert_one_line_error(exc, path, "unsupported mask mode 'CMYK'")


# --- writing and listing ------------------------------------------------------------------------


def test_save_image_round_trip_leaves_no_temp_files(tmp_path: Path) -> None:
    arr = noise(5, 7)
    dest = save_image(tmp_path / "out" / "x.png", arr)
    assert dest == tmp_path / "out" / "x.png"
    np.testing.assert_array_equal(read_image(dest), arr)
    assert [p.name for p in dest.parent.iterdir()] == ["x.png"]


def test_save_image_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"x\.nope: unknown image file extension"):
        save_image(tmp_path / "x.nope", noise(2, 2))
    assert list(tmp_path.iterdir()) == []


def test_list_images_sorted_and_filtered(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "c.txt", "d.tiff"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "d.tiff"]
