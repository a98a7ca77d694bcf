"""``SegmentationResult``: one image's prediction, with the views users ask for and ``save``.

Example:
    >>> result = Segmenter.from_pretrained("model.safetensors").predict("street.jpg")
    >>> result.mask.shape, result.probs.shape  # (H, W), (K, H, W)
    >>> result.class_masks(["car"])["car"].sum()  # car pixels
    >>> result.save("out", "street", probs=True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semseg.data.info import DatasetInfo
from semseg.fileio.images import atomic_write, save_image
from semseg.visualize.overlay import (
    binary_masks,
    class_ids,
    colorize,
    draw_legend,
    heatmap,
    legend_entries,
    mask_image,
    overlay,
)


class _Lazy:
    """Dataclass field holding an array, or a function that computes it on first read.

    ``Segmenter`` passes the probabilities as a function: most callers only need the mask,
    and a full-resolution softmax over K classes costs as much as a light network.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self.slot)  # tells dataclass: no default value
        value = obj.__dict__[self.slot]
        if callable(value):
            value = obj.__dict__[self.slot] = value()
        return value

    def __set__(self, obj: Any, value: np.ndarray | Callable[[], np.ndarray]) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """The prediction for one image; arrays are at the image's original size."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, the input
    mask: np.ndarray  # (H, W) int64 class ids in 0..K-1
    # (K, H, W) float32 softmax over the K classes of `info`; may be given as a function
    # returning it, called on first access
    probs: np.ndarray = _Lazy()  # type: ignore[assignment]
    info: DatasetInfo
    uncertainty: dict[str, np.ndarray] | None = None  # "entropy"/"variance" (H, W) with MC dropout

    def color_mask(self) -> np.ndarray:
        """(H, W, 3) RGB image of the mask in the dataset palette."""
        return colorize(self.mask, self.info.palette_array())

    def overlay(
        self, alpha: float = 0.5, classes: Iterable[str] | None = None, legend: bool = True
    ) -> np.ndarray:
        """The image tinted by class colour (only ``classes`` when given), legend on the right."""
        ids = class_ids(classes, self.info.classes) if classes is not None else None
        palette = self.info.palette_array()
        out = overlay(self.image, self.mask, palette, alpha, ids)
        if legend:
            entries = legend_entries(self.mask, self.info.classes, palette, ids)
            if entries:
                names, colors, shares = zip(*entries, strict=True)
                out = draw_legend(out, names, colors, shares)
        return out

    def class_masks(self, classes: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """``{name: (H, W) bool}`` for ``classes`` (default: the classes present)."""
        return binary_masks(self.mask, self.info.classes, classes)

    def class_shares(self) -> dict[str, float]:
        """Pixel share of each present class, largest first."""
        entries = legend_entries(self.mask, self.info.classes, self.info.palette_array())
        return {e.name: float(e.share) for e in entries}

    def save(
        self,
        outdir: str | os.PathLike,
        stem: str,
        probs: bool = False,
        alpha: float = 0.5,
        classes: Iterable[str] | None = None,
    ) -> list[Path]:
        """Write ``<stem>_mask.png`` (palette-mode index PNG), ``_color.png``, ``_overlay.png``.

        Also ``_probs.npz`` (float16 ``probs`` and ``classes``, plus the raw ``entropy`` and
        ``variance`` maps when present) when ``probs`` is true, and ``_entropy.png`` /
        ``_variance.png`` heat maps when uncertainty maps exist. Each file is written atomically.
        """
        out = Path(outdir)
        overlay_img = self.overlay(alpha=alpha, classes=classes)  # validates classes first
        written = [
            save_image(out / f"{stem}_mask.png", mask_image(self.mask, self.info.palette_array())),
            save_image(out / f"{stem}_color.png", self.color_mask()),
            save_image(out / f"{stem}_overlay.png", overlay_img),
        ]
        if probs:
            written.append(atomic_write(out / f"{stem}_probs.npz", self._write_probs))
        k = max(self.info.num_classes, 2)
        # Each map's colour scale spans "certain" to its largest possible value: entropy is at
        # most ln K; the class-averaged variance of softmax samples at most (K - 1) / K^2
        # (samples spread evenly over one-hot vectors of all K classes).
        for name, vmax in (("entropy", math.log(k)), ("variance", (k - 1) / k**2)):
            if (self.uncertainty or {}).get(name) is not None:
                img = heatmap(self.uncertainty[name], vmax)
                written.append(save_image(out / f"{stem}_{name}.png", img))
        return written

    def _write_probs(self, tmp: Path) -> None:
        with open(tmp, "wb") as f:
            maps = {k: v.astype(np.float16) for k, v in (self.uncertainty or {}).items()
                    if v is not None}
            np.savez_compressed(f, probs=self.probs.astype(np.float16),
                                classes=np.asarray(self.info.classes), **maps)
