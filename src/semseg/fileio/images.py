"""Reading images and masks with clear errors, and writing outputs atomically.

Every reader raises ``InputFileError`` naming the file and the problem (missing, empty, not an
image, truncated) instead of a library traceback. Images come back as RGB ``uint8`` arrays with
the EXIF orientation applied; masks come back as 2-D integer arrays.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from semseg.errors import InputFileError, LabelError
from semseg.fileio.filetypes import IMAGE_EXTENSIONS


def _decode(path: Path | io.BytesIO) -> Image.Image:
    """Open and decode now, so truncation is reported here, not deep inside a transform."""
    img = Image.open(path)
    try:
        img.load()
    except BaseException:
        img.close()  # release the file handle now rather than at garbage collection
        raise
    return img


def _open(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file, turning every failure into ``InputFileError``."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: file not found")
    if not p.is_file():
        raise InputFileError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise InputFileError(f"{p}: file is empty (0 bytes)")
    return _decode_or_raise(p, p)


def _decode_or_raise(source: Path | io.BytesIO, name: object) -> Image.Image:
    try:
        return _decode(source)
    except UnidentifiedImageError:
        raise InputFileError(f"{name}: not an image file (unrecognized format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputFileError(f"{name}: corrupt or truncated image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise InputFileError(f"{name}: image too large ({exc})") from None


def _to_uint8_gray(arr: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    """Scale a 16/32-bit grayscale image to 0..255 by its bit depth."""
    # A 16-bit file scales by 65535 whatever its content (a dark frame stays dark); 32-bit "I"
    # images have no fixed depth, so values above 255 are taken as 16-bit.
    top = 65535 if sixteen_bit or arr.max(initial=0) > 255 else 255
    return np.clip(arr.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as an (H, W, 3) RGB uint8 array, honouring EXIF orientation."""
    return image_to_rgb(_open(path), path)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """``read_image`` for a file's bytes already in memory (e.g. read by Ray Data); ``name``
    (the file's path) labels errors."""
    if not data:
        raise InputFileError(f"{name}: file is empty (0 bytes)")
    return image_to_rgb(_decode_or_raise(io.BytesIO(data), name), name)


def image_to_rgb(img: Image.Image, name: str | os.PathLike = "image") -> np.ndarray:
    """A decoded PIL image -> (H, W, 3) RGB uint8, EXIF-rotated; 16-bit gray scaled by depth."""
    # A broken EXIF block should not make the pixels unreadable.
    with contextlib.suppress(OSError, ValueError, SyntaxError):
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = _to_uint8_gray(np.asarray(img), sixteen_bit=img.mode.startswith("I;16"))
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "F":
        raise InputFileError(f"{name}: floating-point images are not supported as RGB input")
    # RGBA/LA: drop alpha; CMYK/YCbCr/P/L/1: PIL converts to RGB with the right colour order.
    return np.asarray(img.convert("RGB")).copy()


def read_mask(
    path: str | os.PathLike,
    palette: np.ndarray | None = None,
    void_colors: np.ndarray | None = None,
    ignore_index: int = 255,
) -> np.ndarray:
    """Read a label mask as an (H, W) int64 array of raw values.

    Index masks (L, P palette-mode, 16-bit) give their stored values. RGB(A) colour masks need
    ``palette`` (K, 3): each colour maps to its row index and each of ``void_colors`` to
    ``ignore_index``; an unknown colour raises ``LabelError``. A colour mask whose three channels
    are equal everywhere is read as a grayscale index mask.
    """
    img = _open(path)
    if img.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L", "1"):
        return np.asarray(img).astype(np.int64)
    if img.mode == "LA":
        return np.asarray(img)[..., 0].astype(np.int64)
    if img.mode not in ("RGB", "RGBA"):
        raise InputFileError(f"{path}: unsupported mask mode {img.mode!r} (expected index or RGB)")
    rgb = np.asarray(img.convert("RGB"))
    if palette is None:
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.int64)
        raise LabelError(f"{path}: colour mask found but no palette given (pass --palette)")
    colors = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    values = np.arange(len(colors))
    if void_colors is not None and len(void_colors):
        void = np.asarray(void_colors, dtype=np.int64).reshape(-1, 3)
        colors = np.concatenate([colors, void])
        values = np.concatenate([values, np.full(len(void), ignore_index)])
    return colors_to_index(rgb, colors, values, path)


def _pack(rgb: np.ndarray) -> np.ndarray:
    """Pack RGB triples into one int64 code per pixel/row."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def colors_to_index(
    rgb: np.ndarray, colors: np.ndarray, values: np.ndarray, path: str | os.PathLike
) -> np.ndarray:
    """Map an (H, W, 3) colour mask to ``values[k]`` where the pixel has colour ``colors[k]``."""
    codes, pal_codes = _pack(rgb), _pack(np.asarray(colors).reshape(-1, 3))
    order = np.argsort(pal_codes)
    pos = np.clip(np.searchsorted(pal_codes[order], codes), 0, len(pal_codes) - 1)
    found = pal_codes[order][pos] == codes
    if not found.all():
        bad = np.unique(codes[~found])[:5]
        names = ", ".join(f"({c >> 16},{(c >> 8) & 255},{c & 255})" for c in bad)
        raise LabelError(
            f"{path}: {int((~found).sum())} pixels have colours not in the palette, e.g. {names}"
        )
    return np.asarray(values, dtype=np.int64)[order][pos]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``, so readers never see a partial file."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode of a new file
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def save_image(path: str | os.PathLike, array: np.ndarray | Image.Image) -> Path:
    """Write an image (uint8 array or PIL image) atomically; the format follows the suffix."""
    img = array if isinstance(array, Image.Image) else Image.fromarray(np.asarray(array))
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise InputFileError(f"{path}: unknown image file extension")
    return atomic_write(path, lambda tmp: img.save(tmp, format=fmt))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files directly inside ``folder``."""
    return sorted(
        p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
