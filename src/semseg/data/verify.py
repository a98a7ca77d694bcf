"""Scan a dataset's image/mask pairs: unreadable files, size mismatches, undefined labels.

Bad masks are the most common cause of silent IoU 0 / NaN results, so every pair is decoded and
every label value checked, and per-class pixel counts are reported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from semseg.data.dataset import INVALID, SplitSource, invalid_values, label_error_message
from semseg.errors import SemsegError


@dataclass
class SplitReport:
    """What verification found in one split."""

    split: str
    num_classes: int
    pairs: int = 0
    ok_pairs: int = 0
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    class_images: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ignore_pixels: int = 0
    sizes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.class_pixels = np.zeros(self.num_classes, dtype=np.int64)
        self.class_images = np.zeros(self.num_classes, dtype=np.int64)

    def to_dict(self, classes: tuple[str, ...]) -> dict:
        """JSON-safe summary."""
        return {
            "split": self.split,
            "pairs": self.pairs,
            "ok_pairs": self.ok_pairs,
            "ignore_pixels": self.ignore_pixels,
            "class_pixels": dict(zip(classes, self.class_pixels.tolist(), strict=True)),
            "class_images": dict(zip(classes, self.class_images.tolist(), strict=True)),
            "sizes": {f"{w}x{h}": n for (h, w), n in self.sizes.items()},
            "problems": self.problems,
        }


def _check_pair(source: SplitSource, index: int, report: SplitReport) -> None:
    sample = source.samples[index]
    try:
        image = source.read_input(sample)
        raw = source.read_raw_mask(sample.mask)
    except SemsegError as exc:
        report.problems.append(str(exc))
        return
    bad = invalid_values(raw, source.lut)
    if bad.size:
        report.problems.append(f"{sample.mask}: {label_error_message(bad, source.lut)}")
        return
    if image.shape[:2] != raw.shape[:2]:
        (ih, iw), (mh, mw) = image.shape[:2], raw.shape[:2]
        report.problems.append(
            f"{sample.mask}: mask is {mw}x{mh} but image {sample.image.name} is {iw}x{ih}"
        )
        return
    ids = source.lut[raw]
    assert not (ids == INVALID).any()
    counts = np.bincount(ids[ids < report.num_classes].ravel(), minlength=report.num_classes)
    report.class_pixels += counts
    report.class_images += counts > 0
    report.ignore_pixels += int((ids == source.info.ignore_index).sum())
    report.sizes[image.shape[:2]] += 1
    report.ok_pairs += 1


def verify_split(
    source: SplitSource, progress: Callable[[int], None] | None = None
) -> SplitReport:
    """Decode every pair of a split and collect counts and problems."""
    report = SplitReport(source.split, source.info.num_classes)
    report.pairs = len(source.samples)
    report.problems.extend(source.problems)
    if not source.samples:
        report.problems.append(f"split {source.split!r}: no image/mask pairs found")
    for i in range(len(source.samples)):
        _check_pair(source, i, report)
        if progress is not None:
            progress(1)
    return report
