"""Point annotations: click simulators from dense masks and their JSON sidecar files.

Protocols (Bearman et al., ECCV 2016, simulated from ground truth like their "random1"):

- ``1-per-class``: one uniformly random pixel of every class present ("1Point");
- ``all-instances``: one random pixel per connected region (8-connected) of every class, regions
  under ``min_area`` pixels skipped ("AllPoints"; CamVid has no instance masks, so connected
  regions stand in for instances);
- ``n-per-class``: ``n`` random pixels of every class present.

Clicks are deterministic given (seed, image stem). One sidecar per image, ``<stem>.json``::

    {"format": "semseg-clicks", "version": 1, "image": "0001TP_006690.png",
     "height": 360, "width": 480, "classes": ["sky", ...], "protocol": "1-per-class",
     "clicks": [{"x": 12, "y": 40, "cls": 0}, ...]}

Real human clicks written in this format are read the same way (``protocol`` may be "human").

Example:
    >>> clicks = simulate_clicks(mask, "1-per-class", num_classes=11, seed=0, key="0001TP_006690")
    >>> write_sidecar("clicks/0001TP_006690.json", clicks, mask.shape, classes, "1-per-class")
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semseg.errors import ConfigError, InputFileError

FORMAT = "semseg-clicks"
VERSION = 1
PROTOCOLS = ("1-per-class", "all-instances", "n-per-class")
UNLABELED = 254  # click-mask value of a pixel nobody clicked (255 stays "ignore")


@dataclass(frozen=True)
class Click:
    """One clicked pixel: column x, row y, class id."""

    x: int
    y: int
    cls: int


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def simulate_clicks(mask: np.ndarray, protocol: str, num_classes: int, seed: int = 0,
                    key: str = "", n: int = 3, min_area: int = 16) -> list[Click]:
    """Clicks on an (H, W) train-id mask; values >= ``num_classes`` (ignore) are never clicked."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown click protocol {protocol!r}; choose from {PROTOCOLS}")
    rng = _rng(seed, key)
    clicks: list[Click] = []
    for c in range(num_classes):
        region = mask == c
        if not region.any():
            continue
        if protocol == "all-instances":
            count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
            groups = [np.flatnonzero(labels.ravel() == i) for i in range(1, count)]
            groups = [g for g in groups if g.size >= min_area]
            picks = [int(rng.choice(g)) for g in groups]
        else:
            pixels = np.flatnonzero(region.ravel())
            k = 1 if protocol == "1-per-class" else min(n, pixels.size)
            picks = [int(p) for p in rng.choice(pixels, k, replace=False)]
        clicks += [Click(p % mask.shape[1], p // mask.shape[1], c) for p in picks]
    return clicks


def write_sidecar(path: str | Path, clicks: list[Click], shape: tuple[int, int],
                  classes: list[str], protocol: str, image: str = "") -> Path:
    """Write one image's clicks as JSON (atomically)."""
    from semseg.fileio.images import atomic_write

    doc = {"format": FORMAT, "version": VERSION, "image": image, "height": int(shape[0]),
           "width": int(shape[1]), "classes": list(classes), "protocol": protocol,
           "clicks": [{"x": c.x, "y": c.y, "cls": c.cls} for c in clicks]}
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(doc) + "\n"))


def read_sidecar(path: str | Path, classes: list[str] | tuple[str, ...],
                 shape: tuple[int, int] | None = None) -> list[Click]:
    """Clicks of a sidecar; a wrong format, class list, size or out-of-image click raises."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: click file not found")
    try:
        doc = json.loads(p.read_text())
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError(f"expected format {FORMAT!r} version {VERSION}")
        if list(doc["classes"]) != list(classes):
            raise ValueError(f"classes {doc['classes']} differ from the dataset's {list(classes)}")
        h, w = int(doc["height"]), int(doc["width"])
        clicks = [Click(int(c["x"]), int(c["y"]), int(c["cls"])) for c in doc["clicks"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputFileError(f"{p}: bad click file ({exc})".splitlines()[0]) from None
    if shape is not None and (h, w) != tuple(shape):
        raise InputFileError(f"{p}: clicks are for a {w}x{h} image, the image is "
                             f"{shape[1]}x{shape[0]}")
    for c in clicks:
        if not (0 <= c.x < w and 0 <= c.y < h and 0 <= c.cls < len(classes)):
            raise InputFileError(f"{p}: click {c} outside the image or the class list")
    return clicks


def click_mask(clicks: list[Click], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: the click's class at clicked pixels, ``UNLABELED`` elsewhere."""
    out = np.full(shape, UNLABELED, dtype=np.uint8)
    for c in clicks:
        out[c.y, c.x] = c.cls
    return out


def simulate_split(dataset, out_dir: str | Path, protocol: str, seed: int = 0, n: int = 3,
                   min_area: int = 16) -> dict[str, float]:
    """Write ``<stem>.json`` for every image of a ``SegmentationDataset``; returns click stats."""
    out = Path(out_dir)
    counts = []
    classes = list(dataset.info.classes)
    for i, sample in enumerate(dataset.samples):
        _, mask = dataset.load(i)
        clicks = simulate_clicks(mask, protocol, len(classes), seed, sample.image.stem, n, min_area)
        write_sidecar(out / f"{sample.image.stem}.json", clicks, mask.shape, classes, protocol,
                      sample.image.name)
        counts.append(len(clicks))
    return {"images": len(counts), "clicks": int(sum(counts)),
            "clicks_per_image": float(np.mean(counts)) if counts else 0.0}
