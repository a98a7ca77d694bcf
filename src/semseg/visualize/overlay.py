"""Drawing predictions: colour masks, overlays, legends, per-class binary masks, index PNGs.

Every function takes and returns RGB ``uint8`` arrays (H, W, 3); nothing here reorders channels,
so a class drawn red in the palette is red in the PNG (PixelLib swapped BGR/RGB in places).

Example:
    >>> ids = class_ids(["person", "car"], info.classes)
    >>> out = overlay(image, mask, info.palette_array(), alpha=0.5, classes=ids)
    >>> entries = legend_entries(mask, info.classes, info.palette_array(), ids)
    >>> out = draw_legend(out, *zip(*entries))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from semseg.errors import ConfigError

LEGEND_BACKGROUND = (255, 255, 255)
LEGEND_TEXT = (0, 0, 0)


class LegendEntry(NamedTuple):
    """One legend row: class name, its colour and its share of the image's pixels."""

    name: str
    color: tuple[int, int, int]
    share: float


def class_ids(names: Iterable[str], classes: Sequence[str]) -> list[int]:
    """Class ids of ``names`` in ``classes``; an unknown name raises listing the valid ones."""
    index = {c: i for i, c in enumerate(classes)}
    wanted = [n.strip() for n in names if n.strip()]
    if unknown := [n for n in wanted if n not in index]:
        raise ConfigError(
            f"unknown class name(s) {', '.join(map(repr, unknown))}; "
            f"valid names: {', '.join(classes)}"
        )
    return list(dict.fromkeys(index[n] for n in wanted))


def _palette(palette: np.ndarray | Sequence) -> np.ndarray:
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)  # (K, 3)
    if len(pal) == 0:
        raise ConfigError("palette is empty")
    return pal


def colorize(mask: np.ndarray, palette: np.ndarray | Sequence) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) RGB; ids outside the palette (e.g. ignore) are black."""
    pal = _palette(palette)
    mask = np.asarray(mask)
    lut = np.zeros((max(len(pal), int(mask.max(initial=0)) + 1), 3), np.uint8)
    lut[: len(pal)] = pal
    return lut[np.clip(mask, 0, None)]  # (H, W, 3)


def _selected(mask: np.ndarray, classes: Iterable[int] | None) -> np.ndarray:
    if classes is None:
        return np.ones(mask.shape, bool)
    return np.isin(mask, np.asarray(list(classes), dtype=np.int64))


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray | Sequence,
    alpha: float = 0.5,
    classes: Iterable[int] | None = None,
) -> np.ndarray:
    """Blend class colours over ``image``: ``(1 - alpha) * image + alpha * colour``, rounded.

    Only pixels of ``classes`` (ids) are tinted when given; the rest keep the original image.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"overlay alpha must be in [0, 1], got {alpha}")
    image = np.asarray(image)
    if image.shape[:2] != np.shape(mask) or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(
            f"overlay needs an (H, W, 3) image matching the (H, W) mask, got image "
            f"{image.shape} and mask {np.shape(mask)}"
        )
    colors = colorize(mask, palette).astype(np.float32)  # (H, W, 3)
    blend = (1.0 - alpha) * image.astype(np.float32) + alpha * colors
    out = np.where(_selected(np.asarray(mask), classes)[..., None], np.rint(blend), image)
    return out.astype(np.uint8)


def legend_entries(
    mask: np.ndarray,
    names: Sequence[str],
    palette: np.ndarray | Sequence,
    classes: Iterable[int] | None = None,
) -> list[LegendEntry]:
    """The classes present in ``mask`` (optionally only ``classes``), largest share first."""
    pal = _palette(palette)
    counts = np.bincount(np.asarray(mask).ravel(), minlength=len(names))[: len(names)]
    total = max(int(np.asarray(mask).size), 1)
    keep = set(range(len(names))) if classes is None else set(classes)
    present = [i for i in np.flatnonzero(counts) if i in keep]
    present.sort(key=lambda i: (-counts[i], i))
    return [LegendEntry(names[i], tuple(int(v) for v in pal[i]), counts[i] / total)
            for i in present]


def draw_legend(
    image: np.ndarray,
    names: Sequence[str],
    colors: Sequence[Sequence[int]],
    shares: Sequence[float],
    font_size: int | None = None,
) -> np.ndarray:
    """Append a legend panel (swatch, name, pixel share) to the right of ``image``.

    The panel never covers the image: the canvas grows to the right, and downwards when the
    legend is taller than the image (that strip is legend background). No names: no panel.
    """
    if not names:
        return np.asarray(image)
    h, w = np.shape(image)[:2]
    size = font_size or int(np.clip(h / 30, 10, 28))
    font = ImageFont.load_default(size=size)
    labels = [f"{n}  {100 * s:.1f}%" for n, s in zip(names, shares, strict=True)]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = int(max(measure.textlength(label, font=font) for label in labels)) + 1
    pad, row = max(size // 2, 4), size + max(size // 2, 4)
    panel_w = 3 * pad + size + text_w
    canvas = Image.new("RGB", (w + panel_w, max(h, 2 * pad + row * len(labels))),
                       LEGEND_BACKGROUND)
    canvas.paste(Image.fromarray(np.asarray(image, dtype=np.uint8)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, (label, color) in enumerate(zip(labels, colors, strict=True)):
        top = pad + k * row
        draw.rectangle([w + pad, top, w + pad + size - 1, top + size - 1],
                       fill=tuple(int(c) for c in color))
        draw.text((w + 2 * pad + size, top + size // 2), label, fill=LEGEND_TEXT, font=font,
                  anchor="lm")
    return np.asarray(canvas)


def binary_masks(
    mask: np.ndarray, names: Sequence[str], classes: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """``{name: (H, W) bool}`` for the named classes (default: every class present)."""
    mask = np.asarray(mask)
    if classes is None:
        ids = [int(i) for i in np.unique(mask) if 0 <= i < len(names)]
    else:
        ids = class_ids(classes, names)
    return {names[i]: mask == i for i in ids}


def mask_image(mask: np.ndarray, palette: np.ndarray | Sequence) -> Image.Image:
    """A palette-mode ("P") image: pixel values are the class ids, viewers show the colours."""
    mask = np.asarray(mask)
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ConfigError(
            f"an index PNG holds ids 0..255, mask has {mask.min()}..{mask.max()}"
        )
    pal = np.zeros((256, 3), np.uint8)
    given = _palette(palette)[:256]
    pal[: len(given)] = given
    img = Image.fromarray(mask.astype(np.uint8))  # mode "L"
    img.putpalette(pal.ravel().tolist())  # turns it into mode "P", values unchanged
    return img


def heatmap(values: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W) values in [0, vmax] -> (H, W, 3) RGB with matplotlib's "magma" colour map."""
    from matplotlib import colormaps

    scaled = np.clip(np.asarray(values, np.float64) / max(vmax, 1e-12), 0.0, 1.0)
    return colormaps["magma"](scaled, bytes=True)[..., :3]
