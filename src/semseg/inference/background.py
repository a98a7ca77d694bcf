"""Background editing behind chosen classes: blur, solid colour, another picture, or grayscale.

The foreground is every pixel of ``classes`` (default: person); everything else is replaced.
``feather`` softens the cut with a Gaussian on the foreground alpha so edges do not look pasted.
All images are RGB ``uint8`` (H, W, 3).

Example:
    >>> result = semseg.segment("portrait.jpg")
    >>> out = change_background(result.image, result, mode="blur", blur_kernel=41, feather=2)
    >>> out = change_background(result.image, result, mode="color", color=(0, 128, 255))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from semseg.errors import ConfigError
from semseg.fileio.images import read_image
from semseg.inference.result import SegmentationResult
from semseg.visualize.overlay import class_ids

MODES = ("blur", "color", "image", "gray")
BACKGROUND_NAMES = ("background", "__background__")  # classes that are never foreground


def foreground_mask(
    mask_or_result: SegmentationResult | np.ndarray,
    classes: Iterable[str | int] | None = ("person",),
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """(H, W) bool: pixels of ``classes`` (names or ids; None: every non-background class).

    ``mask_or_result`` is a ``SegmentationResult``, an (H, W) class-id mask (names then need
    ``class_names``), or an (H, W) bool mask that is returned as is.
    """
    if isinstance(mask_or_result, SegmentationResult):
        mask, names = mask_or_result.mask, mask_or_result.info.classes
    else:
        mask, names = np.asarray(mask_or_result), class_names
        if mask.dtype == bool:
            return mask
    if mask.ndim != 2:
        raise ConfigError(f"mask must be (H, W), got shape {mask.shape}")
    if classes is None:
        if names is None:
            raise ConfigError("classes=None needs class names to know which one is background")
        ids = [i for i, n in enumerate(names) if n not in BACKGROUND_NAMES]
    else:
        wanted = list(classes)
        by_name = [c for c in wanted if isinstance(c, str)]
        if by_name and names is None:
            raise ConfigError(f"class names {by_name} need class_names for a plain id mask")
        ids = [c for c in wanted if not isinstance(c, str)]
        ids += class_ids(by_name, names) if by_name else []
    return np.isin(mask, np.asarray(ids, dtype=np.int64))


def _rgb_color(color: Sequence[int]) -> np.ndarray:
    values = tuple(color)
    if len(values) != 3 or not all(isinstance(v, int | np.integer) and 0 <= v <= 255
                                   for v in values):
        raise ConfigError(f"color must be three integers 0..255 (r, g, b), got {color!r}")
    return np.asarray(values, dtype=np.uint8)


def _new_background(
    image: np.ndarray,
    mode: str,
    color: Sequence[int],
    background_image: str | os.PathLike | np.ndarray | None,
    blur_kernel: int,
) -> np.ndarray:
    h, w = image.shape[:2]
    if mode == "blur":
        if blur_kernel < 3 or blur_kernel % 2 == 0:
            raise ConfigError(f"blur_kernel must be an odd integer >= 3, got {blur_kernel}")
        return cv2.GaussianBlur(image, (blur_kernel, blur_kernel), 0)
    if mode == "color":
        return np.broadcast_to(_rgb_color(color), image.shape)
    if mode == "gray":
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # weights for RGB order
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "image":
        if background_image is None:
            raise ConfigError("mode 'image' needs background_image (a path or an RGB array)")
        bg = background_image
        bg = read_image(bg) if isinstance(bg, str | os.PathLike) else np.asarray(bg)
        if bg.ndim != 3 or bg.shape[2] != 3 or bg.dtype != np.uint8:
            raise ConfigError(f"background image must be (H, W, 3) uint8 RGB, got {bg.shape}")
        return cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA)
    raise ConfigError(f"unknown background mode {mode!r}; choose from {', '.join(MODES)}")


def change_background(
    image: str | os.PathLike | np.ndarray,
    mask_or_result: SegmentationResult | np.ndarray,
    mode: str = "blur",
    classes: Iterable[str | int] | None = ("person",),
    color: Sequence[int] = (0, 0, 0),
    background_image: str | os.PathLike | np.ndarray | None = None,
    blur_kernel: int = 41,
    feather: float = 0.0,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Keep the pixels of ``classes`` and replace the rest (``mode``: blur, color, image, gray).

    ``feather`` (pixels, the Gaussian sigma) blends the edge instead of a hard cut. Returns a
    new (H, W, 3) uint8 RGB array.
    """
    img = read_image(image) if isinstance(image, str | os.PathLike) else np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ConfigError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
    fg = foreground_mask(mask_or_result, classes, class_names)
    if fg.shape != img.shape[:2]:
        raise ConfigError(f"mask {fg.shape} and image {img.shape[:2]} differ in size")
    if feather < 0:
        raise ConfigError(f"feather must be >= 0 pixels, got {feather}")
    bg = _new_background(img, mode, color, background_image, blur_kernel)
    if feather == 0:
        return np.where(fg[..., None], img, bg).astype(np.uint8)
    alpha = cv2.GaussianBlur(fg.astype(np.float32), (0, 0), feather)[..., None]  # (H, W, 1)
    out = alpha * img.astype(np.float32) + (1.0 - alpha) * bg.astype(np.float32)
    return np.rint(out).clip(0, 255).astype(np.uint8)
