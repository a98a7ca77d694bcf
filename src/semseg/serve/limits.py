"""Checks on an uploaded image, cheapest first, before a single pixel is decoded.

The body size is capped by the app while the request streams in (413). Here the type is sniffed
from the first bytes, never from the file name or the client's Content-Type (415); the
dimensions come from the header alone, so a 60000 x 60000 PNG of a few hundred bytes is refused
(413) without allocating its pixels; only then are the pixels decoded (422 when they do not).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from semseg.errors import SemsegError
from semseg.fileio.images import image_to_rgb
from semseg.serve.config import Limits

# (format name for Image.open, magic bytes at offset 0); WebP is checked separately (RIFF....WEBP).
MAGIC = (("PNG", b"\x89PNG\r\n\x1a\n"), ("JPEG", b"\xff\xd8\xff"))
ACCEPTED = "PNG, JPEG or WebP"


class RejectedUpload(SemsegError):
    """An upload the service refuses; ``status`` is the HTTP status to answer with."""

    status = 422


class TooLarge(RejectedUpload):
    """Body or decoded size above the limits."""

    status = 413


class UnsupportedType(RejectedUpload):
    """Not a PNG, JPEG or WebP by its content."""

    status = 415


class Undecodable(RejectedUpload):
    """A supported type whose header or pixels do not decode (truncated, corrupt)."""

    status = 422


def sniff(data: bytes) -> str:
    """The image format named by the first bytes (``"PNG"``, ``"JPEG"``, ``"WEBP"``) or 415."""
    for fmt, magic in MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if not data:
        raise UnsupportedType("the upload is empty; send a PNG, JPEG or WebP image")
    raise UnsupportedType(f"the upload is not a {ACCEPTED} image (checked by its content)")


def open_checked(data: bytes, limits: Limits) -> Image.Image:
    """Read only the header: type (415), dimensions (413), header corruption (422).

    The returned image is not decoded yet; ``decode`` does that, off the event loop.
    """
    fmt = sniff(data)
    try:
        # formats= keeps Pillow from trying other decoders than the sniffed one.
        img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as exc:  # Pillow's own cap, far above ours by default
        raise TooLarge(f"image dimensions too large ({exc})") from None
    except Exception as exc:
        raise Undecodable(f"corrupt {fmt} header ({_reason(exc)})") from None
    w, h = img.size
    if w * h > limits.max_pixels:
        img.close()
        raise TooLarge(f"image is {w}x{h} = {w * h} pixels; the limit is {limits.max_pixels}")
    if w < 1 or h < 1:
        raise Undecodable(f"image has no pixels ({w}x{h})")
    return img


def decode(img: Image.Image) -> np.ndarray:
    """Decode the pixels of an ``open_checked`` image to (H, W, 3) RGB uint8, or 422."""
    try:
        img.load()
        return image_to_rgb(img, "upload")
    except Exception as exc:
        raise Undecodable(f"corrupt or truncated {img.format} image ({_reason(exc)})") from None
    finally:
        img.close()


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
