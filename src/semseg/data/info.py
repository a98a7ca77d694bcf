"""``DatasetInfo``: the frozen description of a label set (classes, colours, normalization)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from semseg.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE_INDEX = 255  # the one ignore value used after label encoding, for every dataset


@dataclass(frozen=True)
class DatasetInfo:
    """Classes, palette, ignore index and input normalization of a dataset or model."""

    name: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_index: int = IGNORE_INDEX
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if not self.classes:
            raise ConfigError(f"dataset {self.name!r}: no classes")
        if len(self.palette) != len(self.classes):
            raise ConfigError(
                f"dataset {self.name!r}: {len(self.classes)} classes but "
                f"{len(self.palette)} palette colours"
            )
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.palette):
            raise ConfigError(f"dataset {self.name!r}: palette entries must be (r, g, b) in 0..255")
        if dupes := sorted({c for c in self.classes if self.classes.count(c) > 1}):
            raise ConfigError(f"dataset {self.name!r}: duplicate class names {dupes}")
        # Encoded masks are uint8, so class ids and the ignore value must fit in 0..255.
        if not 0 <= self.ignore_index <= 255:
            raise ConfigError(
                f"dataset {self.name!r}: ignore_index {self.ignore_index} must be in 0..255"
            )
        if self.ignore_index < len(self.classes):
            raise ConfigError(
                f"dataset {self.name!r}: ignore_index {self.ignore_index} collides with a class id"
                f" (classes are 0..{len(self.classes) - 1})"
            )
        if len(self.mean) != len(self.std):
            raise ConfigError(f"dataset {self.name!r}: mean and std lengths differ")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"dataset {self.name!r}: std values must be > 0, got {self.std}")

    @property
    def num_classes(self) -> int:
        """Number of trainable classes (the ignore value excluded)."""
        return len(self.classes)

    def palette_array(self) -> np.ndarray:
        """The palette as a (C, 3) uint8 array."""
        return np.asarray(self.palette, dtype=np.uint8).reshape(-1, 3)

    def to_dict(self) -> dict:
        """A JSON-safe dict (lists instead of tuples)."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["palette"] = [list(c) for c in self.palette]
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DatasetInfo:
        """Inverse of ``to_dict``; unknown keys raise ``ConfigError``."""
        known = {"name", "classes", "palette", "ignore_index", "mean", "std"}
        if unknown := set(d) - known:
            raise ConfigError(f"dataset info: unknown keys {sorted(unknown)}")
        if missing := {"name", "classes", "palette"} - set(d):
            raise ConfigError(f"dataset info: missing keys {sorted(missing)}")
        return cls(
            name=str(d["name"]),
            classes=tuple(d["classes"]),
            palette=tuple(tuple(int(v) for v in c) for c in d["palette"]),
            ignore_index=int(d.get("ignore_index", IGNORE_INDEX)),
            mean=tuple(float(v) for v in d.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in d.get("std", IMAGENET_STD)),
        )


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC bit-interleaved colour map, for datasets that define no colours."""
    colors = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colors.append((r, g, b))
    return tuple(colors)
