"""Upload checks: type by content, dimensions from the header alone, decode errors."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from semseg.serve.config import Limits
from semseg.serve.limits import (
    TooLarge,
    Undecodable,
    UnsupportedType,
    decode,
    open_checked,
    sniff,
)


def _encode(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_sniff_by_content(fmt):
    assert sniff(_encode(fmt)) == fmt


@pytest.mark.parametrize("data", [b"", b"GIF89a" + bytes(40), b"<svg xmlns=", _encode("BMP"),
                                  b"RIFF\0\0\0\0WAVEfmt "])
def test_sniff_refuses_other_content(data):
    with pytest.raises(UnsupportedType):
        sniff(data)


def test_bomb_header_refused_without_allocating(bomb_png):
    data = bomb_png(60000, 60000)  # 3.6 gigapixels claimed by a ~100-byte file
    assert len(data) < 200
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="image dimensions too large"):
            open_checked(data, Limits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # decoding would need 10.8 GB


def test_pixel_cap_is_from_header_and_exact(png_bytes):
    data = png_bytes(np.zeros((100, 50, 3), np.uint8))
    assert open_checked(data, Limits(max_pixels=5000)).size == (50, 100)
    with pytest.raises(TooLarge, match="50x100 = 5000 pixels; the limit is 4999"):
        open_checked(data, Limits(max_pixels=4999))


def test_decode_gives_rgb_and_honours_exif_orientation():
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    img.putpixel((0, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif)
    out = decode(open_checked(buf.getvalue(), Limits()))
    assert out.shape == (4, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 1]) == (0, 0, 255)  # top-left pixel moved to the top-right corner


def test_truncated_png_is_undecodable(png_bytes):
    data = png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    img = open_checked(data[: len(data) // 2], Limits())  # the header is intact
    with pytest.raises(Undecodable, match="truncated"):
        decode(img)


def test_corrupt_header_is_undecodable():
    with pytest.raises(Undecodable, match="corrupt PNG header"):
        open_checked(b"\x89PNG\r\n\x1a\n" + b"\0" * 30, Limits())
