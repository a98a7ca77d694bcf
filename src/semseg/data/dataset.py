"""``SegmentationDataset``: image/mask pairs, label encoding through a lookup table, transforms."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from semseg.data.info import DatasetInfo
from semseg.errors import DatasetLayoutError, InputFileError, LabelError
from semseg.fileio.images import read_image, read_mask

INVALID = -1  # lookup-table value of a raw label the dataset does not define
PairTransformFn = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]
# RGB-D inputs are (H, W, 4) float32: RGB in 0..255 and depth * DEPTH_PER_METER, so 10 m reads as
# 255 and every transform (scale, crop, pad with 0 = no depth, normalize by /255) treats the four
# channels alike; the depth mean/std in a DatasetInfo are therefore in units of 10 m.
DEPTH_PER_METER = 25.5


@dataclass(frozen=True)
class Sample:
    """One image and its label mask on disk."""

    image: Path
    mask: Path
    depth: Path | None = None  # RGB-D datasets: the depth map of the image


def read_rgb(sample: Sample) -> np.ndarray:
    """The (H, W, 3) uint8 RGB image of a sample: the default network-input reader."""
    return read_image(sample.image)


def rgbd_image(rgb: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """Stack (H, W, 3) uint8 RGB and (H, W) depth in metres into the (H, W, 4) float32 input."""
    out = np.empty((*rgb.shape[:2], 4), dtype=np.float32)  # (H, W, 4)
    out[..., :3] = rgb
    out[..., 3] = np.nan_to_num(depth_m, nan=0.0, posinf=0.0, neginf=0.0) * DEPTH_PER_METER
    return out


def build_lut(mapping: Mapping[int, int], size: int = 256) -> np.ndarray:
    """A raw-value -> train-id lookup table; raw values not in ``mapping`` are INVALID."""
    lut = np.full(max(size, max(mapping, default=0) + 1), INVALID, dtype=np.int64)
    for raw, train_id in mapping.items():
        lut[raw] = train_id
    return lut


def identity_lut(num_classes: int, ignore_index: int) -> np.ndarray:
    """Lookup table for masks that already store 0..C-1 and ``ignore_index``."""
    return build_lut({**{i: i for i in range(num_classes)}, ignore_index: ignore_index})


def present_values(raw: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer mask."""
    if raw.size and raw.dtype.kind in "iu":
        lo, hi = int(raw.min()), int(raw.max())
        if lo >= 0 and hi < 65536:  # bincount is ~10x faster than np.unique's sort
            return np.flatnonzero(np.bincount(raw.ravel(), minlength=hi + 1))
    return np.unique(raw)


def invalid_values(raw: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Sorted raw values in ``raw`` that the lookup table does not define."""
    values = present_values(raw)
    bad = (values < 0) | (values >= len(lut))
    ok = ~bad
    bad[ok] = lut[values[ok]] == INVALID
    return values[bad]


def describe_allowed(lut: np.ndarray) -> str:
    """The raw values a lookup table accepts, as compact ranges ("0-10, 11")."""
    values = np.flatnonzero(lut != INVALID)
    runs, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            runs.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(runs)


def label_error_message(bad: np.ndarray, lut: np.ndarray) -> str:
    """'label values 12, 40 outside the allowed 0-10, 255' for a report or an error."""
    shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
    return f"label values {shown} outside the allowed {describe_allowed(lut)}"


def encode_labels(raw: np.ndarray, lut: np.ndarray, path: Path | str) -> np.ndarray:
    """Map raw mask values to train ids (uint8); undefined values raise ``LabelError``."""
    bad = invalid_values(raw, lut)
    if bad.size:
        raise LabelError(f"{path}: {label_error_message(bad, lut)}")
    return lut[raw].astype(np.uint8)


def check_same_size(image: np.ndarray, mask: np.ndarray, sample: Sample) -> None:
    """Raise ``InputFileError`` when an image and its mask differ in size."""
    if image.shape[:2] != mask.shape[:2]:
        ih, iw = image.shape[:2]
        mh, mw = mask.shape[:2]
        raise InputFileError(
            f"{sample.mask}: mask is {mw}x{mh} but image {sample.image.name} is {iw}x{ih}"
        )


class SegmentationDataset(Dataset):
    """Pairs of (image, mask) files; yields (float image (C, H, W), long mask (H, W))."""

    def __init__(
        self,
        samples: list[Sample],
        info: DatasetInfo,
        lut: np.ndarray,
        transform: PairTransformFn | None = None,
        read_raw_mask: Callable[[Path], np.ndarray] = read_mask,
        read_input: Callable[[Sample], np.ndarray] = read_rgb,
    ) -> None:
        self.samples = samples
        self.info = info
        self.lut = lut
        self.transform = transform
        self.read_raw_mask = read_raw_mask
        self.read_input = read_input

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded image ((H, W, 3) uint8, or (H, W, 4) float32 RGB-D) and (H, W) uint8
        train-id mask, untransformed."""
        sample = self.samples[index]
        image = self.read_input(sample)
        mask = encode_labels(self.read_raw_mask(sample.mask), self.lut, sample.mask)
        check_same_size(image, mask, sample)
        return image, mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.load(index)
        if self.transform is None:
            chw = torch.from_numpy(image).permute(2, 0, 1).float().div_(255)  # (C, H, W)
            return chw, torch.from_numpy(mask).long()
        return self.transform(image, mask)


def text_rows(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line number from 1, line, whitespace-split fields) of each non-blank line of a list file."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if fields := line.split():
            yield n, line, fields


def pair_by_stem(image_dir: Path, mask_dir: Path) -> tuple[list[Sample], list[str]]:
    """Pair images and masks with the same file stem; returns pairs and unpaired-file problems."""
    from semseg.fileio.images import list_images

    problems: list[str] = []
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for files, folder in ((images, image_dir), (masks, mask_dir)):
        for p in list_images(folder):
            if p.stem in files:  # a.jpg and a.png: which one is meant is unknowable
                problems.append(f"{p}: same stem as {files[p.stem].name}; keeping the first")
                continue
            files[p.stem] = p
    for s in images.keys() - masks.keys():
        problems.append(f"{images[s]}: no mask with this stem in {mask_dir}")
    for s in masks.keys() - images.keys():
        problems.append(f"{masks[s]}: no image with this stem in {image_dir}")
    pairs = [Sample(images[s], masks[s]) for s in sorted(images.keys() & masks.keys())]
    return pairs, sorted(problems)



class JoinedSplits(ConcatDataset):
    """Several splits trained on as one (``train_split: train+val``), sharing one transform;
    ``load(i)`` (the untransformed pair, used for class weights) reaches the right split."""

    def __init__(self, datasets: list[SegmentationDataset]):
        super().__init__(datasets)
        self.transform = datasets[0].transform

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The i-th (image, mask) pair of the joined splits, before transforms."""
        part = next(k for k, end in enumerate(self.cumulative_sizes) if i < end)
        start = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part].load(i - start)

@dataclass(frozen=True)
class SplitSource:
    """Everything needed to read one split of a dataset on disk (used by verify and loaders)."""

    split: str
    samples: list[Sample]
    problems: list[str]
    info: DatasetInfo
    lut: np.ndarray
    read_raw_mask: Callable[[Path], np.ndarray] = read_mask
    read_input: Callable[[Sample], np.ndarray] = read_rgb

    def dataset(self, transform: PairTransformFn | None = None) -> SegmentationDataset:
        """A ``SegmentationDataset`` over this split's samples."""
        return SegmentationDataset(self.samples, self.info, self.lut, transform,
                                   self.read_raw_mask, self.read_input)


def strict_dataset(
    source: SplitSource, transform: PairTransformFn | None, layout: str
) -> SegmentationDataset:
    """The split's dataset; a pairing problem or an empty split raises ``DatasetLayoutError``."""
    if source.problems:
        more = f" (+{len(source.problems) - 1} more)" if len(source.problems) > 1 else ""
        raise DatasetLayoutError(source.problems[0] + more)
    if not source.samples:
        raise DatasetLayoutError(f"split {source.split!r}: no image/mask pairs (expected {layout})")
    return source.dataset(transform)


def choose_label_set(palette: str | None, label_sets: Mapping[str, DatasetInfo]) -> DatasetInfo:
    """The label set a built-in format produces: the first by default, else the one named."""
    from semseg.errors import ConfigError

    if palette is None:
        return next(iter(label_sets.values()))
    if palette not in label_sets:
        raise ConfigError(
            f"--palette {palette}: this format produces only {', '.join(label_sets)}"
        )
    return label_sets[palette]


def layout_error(path: Path | str, problem: str, name: str, layout: str) -> DatasetLayoutError:
    """'PATH: PROBLEM (NAME expects LAYOUT)': a built-in format's tree lacks what it needs."""
    return DatasetLayoutError(f"{path}: {problem} ({name} expects {layout})")


def require_dirs(dirs: Iterable[Path], name: str, layout: str) -> None:
    """Raise 'DIR: folder not found (NAME expects LAYOUT)' for the first missing folder."""
    for d in dirs:
        if not d.is_dir():
            raise layout_error(d, "folder not found", name, layout)


def present_splits(
    base: Path, folders: Mapping[str, str], missing: str, name: str, layout: str
) -> list[str]:
    """Splits whose BASE/FOLDER exists; no BASE, or no split, raises ``DatasetLayoutError``."""
    require_dirs([base], name, layout)
    found = [split for split, folder in folders.items() if (base / folder).is_dir()]
    if not found:
        raise layout_error(base, missing, name, layout)
    return found


def check_split(split: str, known: Iterable[str], name: str) -> None:
    """Raise ``DatasetLayoutError`` naming the choices when ``split`` is not one of ``known``."""
    known = tuple(known)
    if split not in known:
        raise DatasetLayoutError(f"{name} split {split!r} unknown; choose from {', '.join(known)}")
