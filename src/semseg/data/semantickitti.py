"""SemanticKITTI (Behley et al., ICCV 2019): labelled 360-degree Velodyne HDL-64E scans of the
KITTI odometry sequences, 19 classes for single-scan semantic segmentation.

Download the KITTI odometry velodyne scans and the SemanticKITTI labels from
http://www.semantic-kitti.org/dataset.html (80 GB). Expected tree::

    ROOT/sequences/NN/velodyne/NNNNNN.bin    float32 x, y, z, remission per point (metres)
    ROOT/sequences/NN/labels/NNNNNN.label    uint32 per point: semantic id in the lower 16 bits,
                                             instance id in the upper 16 (none for 11-21)

Splits by sequence as in the benchmark: train 00-07 and 09-10, val 08, test 11-21 (no labels).
Raw ids map to train ids with ``learning_map`` of the official ``semantic-kitti.yaml``
(PRBonn/semantic-kitti-api): moving classes merge into their static class, unlabelled (0),
outlier (1), other-structure (52) and other-object (99) become 255 (ignored). Written labels go
back through ``learning_map_inv``. Scans are not images: train, evaluate and predict them with
``--format semantickitti`` (``semseg.lidar``: range projection, SalsaNext, KNN back to points);
the input channels are range, x, y, z, remission of the 64 x 2048 range image, normalised with
the statistics SalsaNext uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semseg.data.dataset import build_lut, invalid_values, label_error_message
from semseg.data.info import IGNORE_INDEX, DatasetInfo
from semseg.errors import DatasetLayoutError, InputFileError, LabelError

CLASSES = ("car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist",
           "motorcyclist", "road", "parking", "sidewalk", "other-ground", "building", "fence",
           "vegetation", "trunk", "terrain", "pole", "traffic-sign")
# learning_map of semantic-kitti.yaml, raw id -> yaml train id (1..19; 0 = ignored).
LEARNING_MAP = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6, 31: 7, 32: 8, 40: 9,
    44: 10, 48: 11, 49: 12, 50: 13, 51: 14, 52: 0, 60: 9, 70: 15, 71: 16, 72: 17, 80: 18, 81: 19,
    99: 0, 252: 1, 253: 7, 254: 6, 255: 8, 256: 5, 257: 5, 258: 4, 259: 5,
}
# learning_map_inv: yaml train id -> the raw id written for it (0 for "unlabelled").
LEARNING_MAP_INV = {0: 0, 1: 10, 2: 11, 3: 15, 4: 18, 5: 20, 6: 30, 7: 31, 8: 32, 9: 40, 10: 44,
                    11: 48, 12: 49, 13: 50, 14: 51, 15: 70, 16: 71, 17: 72, 18: 80, 19: 81}
# color_map of semantic-kitti.yaml (BGR!) for the raw ids the 19 classes are written as.
COLOR_MAP_BGR = {10: (245, 150, 100), 11: (245, 230, 100), 15: (150, 60, 30), 18: (180, 30, 80),
                 20: (255, 0, 0), 30: (30, 30, 255), 31: (200, 40, 255), 32: (90, 30, 150),
                 40: (255, 0, 255), 44: (255, 150, 255), 48: (75, 0, 75), 49: (75, 0, 175),
                 50: (0, 200, 255), 51: (50, 120, 255), 70: (0, 175, 0), 71: (0, 60, 135),
                 72: (80, 240, 150), 80: (150, 240, 255), 81: (0, 0, 255)}
PALETTE = tuple(tuple(reversed(COLOR_MAP_BGR[LEARNING_MAP_INV[t + 1]])) for t in range(19))
# content of semantic-kitti.yaml: share of all points per raw id (sums to 1 over the release).
CONTENT = {
    0: 0.018889854628292943, 1: 0.0002937197336781505, 10: 0.040818519255974316,
    11: 0.00016609538710764618, 13: 2.7879693665067774e-05, 15: 0.00039838616015114444,
    16: 0.0, 18: 0.0020633612104619787, 20: 0.0016218197275284021, 30: 0.00017698551338515307,
    31: 1.1065903904919655e-08, 32: 5.532951952459828e-09, 40: 0.1987493871255525,
    44: 0.014717169549888214, 48: 0.14392298360372, 49: 0.0039048553037472045,
    50: 0.1326861944777486, 51: 0.0723592229456223, 52: 0.002395131480328884,
    60: 4.7084144280367186e-05, 70: 0.26681502148037506, 71: 0.006035012012626033,
    72: 0.07814222006271769, 80: 0.002855498193863172, 81: 0.0006155958086189918,
    99: 0.009923127583046915, 252: 0.001789309418528068, 253: 0.00012709999297008662,
    254: 0.00016059776092534436, 255: 3.745553104802113e-05, 256: 0.0,
    257: 0.00011351574470342043, 258: 0.00010157861367183268, 259: 4.3840131989471124e-05,
}
# Range, x, y, z, remission statistics of the training scans (SalsaNext's salsanext.yml).
MEAN = (12.12, 10.88, 0.23, -1.04, 0.21)
STD = (12.32, 11.47, 6.91, 0.86, 0.16)
INFO = DatasetInfo(name="semantickitti", classes=CLASSES, palette=PALETTE, mean=MEAN, std=STD)

SPLITS = {"train": (0, 1, 2, 3, 4, 5, 6, 7, 9, 10), "val": (8,),
          "test": tuple(range(11, 22))}
LAYOUT = "ROOT/sequences/NN/velodyne/*.bin and ROOT/sequences/NN/labels/*.label"
# Raw id -> train id 0..18, ignored ids -> 255, undefined ids -> INVALID (a LabelError).
LUT = build_lut({raw: IGNORE_INDEX if t == 0 else t - 1 for raw, t in LEARNING_MAP.items()},
                size=65536)
TRAIN_TO_RAW = np.array([LEARNING_MAP_INV[t + 1] for t in range(len(CLASSES))], np.uint32)


def read_scan(path: str | Path) -> np.ndarray:
    """The (N, 4) float32 points (x, y, z, remission) of a ``.bin`` scan."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: scan not found")
    size = p.stat().st_size
    if size == 0 or size % 16:
        raise InputFileError(f"{p}: {size} bytes is not a whole number of points (16 bytes each: "
                             "float32 x, y, z, remission); truncated or not a KITTI scan")
    points = np.fromfile(p, dtype="<f4").reshape(-1, 4)
    if not np.isfinite(points).all():
        raise InputFileError(f"{p}: holds NaN or infinite coordinates; not a KITTI scan")
    return points


def read_label(path: str | Path, num_points: int | None = None) -> np.ndarray:
    """The (N,) raw semantic ids (lower 16 bits) of a ``.label`` file, optionally count-checked."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: label file not found")
    size = p.stat().st_size
    if size % 4:
        raise InputFileError(f"{p}: {size} bytes is not a whole number of uint32 labels")
    raw = np.fromfile(p, dtype="<u4")
    if num_points is not None and raw.size != num_points:
        raise InputFileError(f"{p}: {raw.size} labels but its scan has {num_points} points")
    return (raw & 0xFFFF).astype(np.int64)


def encode(raw: np.ndarray, path: str | Path) -> np.ndarray:
    """Raw semantic ids -> (N,) uint8 train ids (255 ignored); unknown ids raise ``LabelError``."""
    bad = invalid_values(raw, LUT)
    if bad.size:
        raise LabelError(f"{path}: {label_error_message(bad, LUT)}")
    return LUT[raw].astype(np.uint8)


def decode(train_ids: np.ndarray) -> np.ndarray:
    """Train ids 0..18 (others -> 0 'unlabelled') -> uint32 raw ids for a ``.label`` file."""
    ids = np.asarray(train_ids).astype(np.int64)
    ok = (ids >= 0) & (ids < len(CLASSES))
    return np.where(ok, TRAIN_TO_RAW[np.where(ok, ids, 0)], 0).astype(np.uint32)


def class_frequencies() -> np.ndarray:
    """(19,) share of points per train class, summed from ``CONTENT`` through ``learning_map``."""
    freq = np.zeros(len(CLASSES))
    for raw, share in CONTENT.items():
        if LEARNING_MAP[raw]:
            freq[LEARNING_MAP[raw] - 1] += share
    return freq


def class_weights(eps: float = 0.001) -> np.ndarray:
    """SalsaNext's cross-entropy weights 1 / (f_c + eps) from ``class_frequencies``."""
    return 1.0 / (class_frequencies() + eps)


@dataclass(frozen=True)
class ScanFile:
    """One scan and its label file (``label`` is None for unlabelled test sequences)."""

    scan: Path
    label: Path | None


@dataclass
class ScanSplit:
    """The scans of one split and the layout problems found while listing them."""

    split: str
    scans: list[ScanFile]
    problems: list[str] = field(default_factory=list)


def _sequence_scans(seq_dir: Path, labelled: bool) -> tuple[list[ScanFile], list[str]]:
    scans, problems = [], []
    velodyne, labels = seq_dir / "velodyne", seq_dir / "labels"
    if not velodyne.is_dir():
        return [], [f"{velodyne}: folder not found (SemanticKITTI expects {LAYOUT})"]
    bins = sorted(velodyne.glob("*.bin"))
    for b in bins:
        label = labels / f"{b.stem}.label"
        if label.is_file():
            scans.append(ScanFile(b, label))
        elif labelled:
            problems.append(f"{label}: label file not found for scan {b.name}")
        else:
            scans.append(ScanFile(b, None))
    if labels.is_dir():
        stems = {b.stem for b in bins}
        problems += [f"{p}: no scan {p.stem}.bin in {velodyne}"
                     for p in sorted(labels.glob("*.label")) if p.stem not in stems]
    return scans, problems


def splits(root: str | Path) -> list[ScanSplit]:
    """The train/val/test splits whose sequences exist under ``ROOT/sequences``."""
    base = Path(root) / "sequences"
    if not base.is_dir():
        raise DatasetLayoutError(f"{base}: folder not found (SemanticKITTI expects {LAYOUT})")
    out = []
    for split, seqs in SPLITS.items():
        present = [base / f"{s:02d}" for s in seqs if (base / f"{s:02d}").is_dir()]
        if not present:
            continue
        found = ScanSplit(split, [])
        for seq_dir in present:
            scans, problems = _sequence_scans(seq_dir, labelled=split != "test")
            found.scans += scans
            found.problems += problems
        out.append(found)
    if not out:
        raise DatasetLayoutError(f"{base}: no sequence folders 00..21 (SemanticKITTI expects "
                                 f"{LAYOUT})")
    return out


def split_scans(root: str | Path, split: str) -> list[ScanFile]:
    """The labelled scans of one split; a layout problem or an empty split raises."""
    found = {s.split: s for s in splits(root)}
    if split not in found:
        seqs = ", ".join(f"{k} {'/'.join(f'{n:02d}' for n in v)}" for k, v in SPLITS.items())
        raise DatasetLayoutError(f"{root}: no sequences of split {split!r} (have "
                                 f"{', '.join(found) or 'none'}; sequences: {seqs})")
    s = found[split]
    if s.problems:
        more = f" (+{len(s.problems) - 1} more)" if len(s.problems) > 1 else ""
        raise DatasetLayoutError(s.problems[0] + more)
    if not s.scans:
        raise DatasetLayoutError(f"{root}: split {split!r} has no scans (expected {LAYOUT})")
    return s.scans


def read_labelled(item: ScanFile) -> tuple[np.ndarray, np.ndarray]:
    """A scan's (N, 4) points and (N,) uint8 train ids (all 255 when it has no label file)."""
    points = read_scan(item.scan)
    if item.label is None:
        return points, np.full(len(points), IGNORE_INDEX, np.uint8)
    return points, encode(read_label(item.label, len(points)), item.label)


@dataclass
class ScanReport:
    """What ``verify`` found in one split: per-class point counts and problems."""

    split: str
    scans: int = 0
    ok_scans: int = 0
    points: int = 0
    ignored: int = 0
    class_points: np.ndarray = field(default_factory=lambda: np.zeros(len(CLASSES), np.int64))
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe summary."""
        return {"split": self.split, "scans": self.scans, "ok_scans": self.ok_scans,
                "points": self.points, "ignored_points": self.ignored,
                "class_points": dict(zip(CLASSES, self.class_points.tolist(), strict=True)),
                "problems": self.problems}

    def summary(self) -> str:
        """One line per split, then the classes by point count."""
        shares = ", ".join(f"{CLASSES[k]} {100 * self.class_points[k] / max(self.points, 1):.1f}%"
                           for k in np.argsort(-self.class_points) if self.class_points[k])
        return (f"{self.split}: {self.scans} scans, {self.ok_scans} ok, {self.points:,} points, "
                f"{self.ignored:,} ignored; {shares or 'no labelled points'}")


def verify(root: str | Path, split: str | None = None) -> list[ScanReport]:
    """Read every scan and label file of each split (or one): sizes, counts, raw ids."""
    from semseg.errors import SemsegError

    found = splits(root)
    if split is not None:
        found = [s for s in found if s.split == split]
        if not found:
            raise DatasetLayoutError(f"{root}: split {split!r} not found")
    reports = []
    for s in found:
        report = ScanReport(s.split, scans=len(s.scans), problems=list(s.problems))
        for item in s.scans:
            try:
                points, ids = read_labelled(item)
            except SemsegError as exc:
                report.problems.append(str(exc))
                continue
            report.ok_scans += 1
            report.points += len(points)
            report.ignored += int((ids == IGNORE_INDEX).sum())
            report.class_points += np.bincount(ids[ids < len(CLASSES)], minlength=len(CLASSES))
        reports.append(report)
    return reports
