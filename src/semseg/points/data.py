"""Point-supervised training data: images with click masks instead of dense masks.

The dataset yields ``(image, target)`` through the ordinary paired transforms, so every
architecture and the ordinary training loop work unchanged. ``target`` (H, W) int64 holds

- ``0..K-1`` at clicked pixels (the click's class),
- ``255`` (ignore) where the transform padded the image or the mask says "void",
- ``PRESENCE_BASE + bits`` at every other pixel, where bit ``c`` of ``bits`` is set when class
  ``c`` was clicked anywhere in the *whole* image: the image-level labels survive random crops
  that cut the clicks out (``decode_targets`` reads them back).

Example:
    >>> ds = PointDataset(camvid.dataset(root, "train", transform), clicks_dir=None)
    >>> x, target = ds[0]
    >>> clicked, present = decode_targets(target[None], num_classes=11)  # (1,H,W), (1,K) bool
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from semseg.errors import ConfigError
from semseg.points.clicks import UNLABELED, Click, click_mask, read_sidecar, simulate_clicks

PRESENCE_BASE = 256
MAX_CLASSES = 62  # PRESENCE_BASE + 2**62 still fits in int64


def encode_presence(target: torch.Tensor, present: list[int]) -> torch.Tensor:
    """Replace ``UNLABELED`` pixels of a transformed click mask by the presence code."""
    bits = sum(1 << c for c in set(present))
    return torch.where(target == UNLABELED, torch.full_like(target, PRESENCE_BASE + bits), target)


def decode_targets(target: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W) targets -> (clicked (N, H, W) bool, present (N, K) bool image-level labels)."""
    clicked = target < num_classes
    code = torch.where(target >= PRESENCE_BASE, target - PRESENCE_BASE, torch.zeros_like(target))
    bits = code.flatten(1).amax(1)  # (N,): every unlabelled pixel of an image holds the same code
    present = (bits[:, None] >> torch.arange(num_classes, device=target.device)) & 1  # (N, K)
    present = present.bool()
    for n in range(target.shape[0]):  # classes clicked inside the crop are present too
        present[n, target[n][clicked[n]].unique()] = True
    return clicked, present


def clicked_classes(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, K) bool: the classes with at least one click inside each (cropped) target."""
    out = torch.zeros(target.shape[0], num_classes + 1, dtype=torch.bool, device=target.device)
    ids = torch.where(target < num_classes, target, num_classes).flatten(1)  # (N, H*W)
    out.scatter_(1, ids, True)
    return out[:, :num_classes]


class PointDataset(Dataset):
    """A ``SegmentationDataset`` whose masks are replaced by clicks (sidecars or simulated)."""

    def __init__(self, base, clicks_dir: str | Path | None = None,
                 protocol: str = "1-per-class", seed: int = 0) -> None:
        if base.info.num_classes > MAX_CLASSES:
            raise ConfigError(f"point supervision supports at most {MAX_CLASSES} classes, "
                              f"{base.info.name} has {base.info.num_classes}")
        self.base = base
        self.info = base.info
        self.samples = base.samples
        self.transform = base.transform
        self.clicks_dir = Path(clicks_dir) if clicks_dir else None
        self.protocol = protocol
        self.seed = seed

    def __len__(self) -> int:
        return len(self.base)

    def clicks(self, index: int, mask: np.ndarray) -> list[Click]:
        """The image's clicks: its sidecar, or simulated from the dense mask."""
        stem = self.samples[index].image.stem
        if self.clicks_dir is not None:
            return read_sidecar(self.clicks_dir / f"{stem}.json", self.info.classes, mask.shape)
        return simulate_clicks(mask, self.protocol, self.info.num_classes, self.seed, stem)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The image and its (H, W) uint8 click mask (``UNLABELED`` where nobody clicked)."""
        image, mask = self.base.load(index)
        return image, click_mask(self.clicks(index, mask), mask.shape)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, clicks = self.load(index)
        present = [int(c) for c in np.unique(clicks[clicks < self.info.num_classes])]
        if self.transform is None:
            x = torch.from_numpy(image).permute(2, 0, 1).float().div_(255)
            y = torch.from_numpy(clicks).long()
        else:
            x, y = self.transform(image, clicks)
        return x, encode_presence(y, present)


def with_masks(source, mask_dir: str | Path, limit: int | None = None):
    """A ``SplitSource`` whose masks are ``mask_dir/<image stem>.png`` index masks holding
    0..K-1 and 255 (ignore), e.g. pseudo-labels, keeping its first ``limit`` samples; a missing
    file raises ``InputFileError``."""
    import dataclasses

    from semseg.data.dataset import Sample, identity_lut
    from semseg.errors import InputFileError
    from semseg.fileio.images import read_mask

    folder = Path(mask_dir)
    samples = [Sample(s.image, folder / f"{s.image.stem}.png", s.depth)
               for s in source.samples[:limit]]
    missing = [s.mask for s in samples if not s.mask.is_file()]
    if missing:
        raise InputFileError(f"{missing[0]}: mask missing ({len(missing)} of {len(samples)})")
    return dataclasses.replace(source, samples=samples, read_raw_mask=read_mask,
                               lut=identity_lut(source.info.num_classes, source.info.ignore_index))
