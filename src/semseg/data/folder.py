"""A generic dataset folder: images and masks with matching stems, index or colour masks.

Expected tree (split sub-folders optional)::

    ROOT/images/[SPLIT/]NAME.jpg|png      ROOT/masks/[SPLIT/]NAME.png
    ROOT/palette.json  or  ROOT/classes.txt

``palette.json``: ``{"classes": [...], "palette": [[r, g, b], ...], "ignore_index": 255,
"void_colors": [[0, 0, 0]]}`` (palette, ignore_index and void_colors optional).
``classes.txt``: one class per line, either ``name`` or ``name r g b`` (names may hold
spaces).
Masks may store class indices (0..C-1, ``ignore_index`` for void) or palette colours.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np

from semseg.data.dataset import (
    PairTransformFn,
    SegmentationDataset,
    SplitSource,
    identity_lut,
    text_rows,
)
from semseg.data.dataset import pair_by_stem as _pair
from semseg.data.info import IGNORE_INDEX, DatasetInfo, default_palette
from semseg.errors import ConfigError, DatasetLayoutError
from semseg.fileio.images import read_mask

LAYOUT = "ROOT/images/[SPLIT/] and ROOT/masks/[SPLIT/] with matching file names"


def _parse_classes_txt(path: Path) -> tuple[list[str], list[tuple[int, int, int]] | None]:
    names, colors = [], []
    for n, line, parts in text_rows(path):
        if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
            names.append(" ".join(parts[:-3]))  # names may hold spaces ("traffic light")
            colors.append(tuple(int(p) for p in parts[-3:]))
        elif not any(p.isdigit() for p in parts[1:]):
            names.append(" ".join(parts))
        else:
            raise ConfigError(f"{path}:{n}: expected 'name' or 'name r g b', got {line!r}")
    if colors and len(colors) != len(names):
        raise ConfigError(f"{path}: give colours for every class or for none")
    return names, (colors or None)


def load_palette(path: str | Path, name: str = "folder") -> tuple[DatasetInfo, np.ndarray]:
    """Read ``palette.json`` or ``classes.txt``; returns the info and the void colours (K, 3)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: palette file not found")
    try:
        if path.suffix == ".json":
            d = json.loads(path.read_text())
            classes = [str(c) for c in d["classes"]]
            colors = d.get("palette")
            ignore, void = int(d.get("ignore_index", IGNORE_INDEX)), d.get("void_colors", [])
        else:
            classes, colors = _parse_classes_txt(path)
            ignore, void = IGNORE_INDEX, []
        palette = tuple(tuple(int(v) for v in c) for c in colors) if colors else default_palette(
            len(classes))
        void_arr = np.asarray(void, dtype=np.int64).reshape(-1, 3)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a valid palette file ({type(exc).__name__}: {exc}); expected "
            '{"classes": [...], "palette": [[r, g, b], ...]} or classes.txt lines'
        ) from None
    try:
        info = DatasetInfo(name=name, classes=tuple(classes), palette=palette, ignore_index=ignore)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return info, void_arr


def resolve_info(root: Path, palette: str | None) -> tuple[DatasetInfo, np.ndarray]:
    """Class info from ``palette`` (file or built-in dataset name) or ROOT's own palette file."""
    if palette is not None:
        from semseg.data import DATASET_INFOS

        if palette in DATASET_INFOS:
            return DATASET_INFOS[palette], np.zeros((0, 3), dtype=np.int64)
        if not Path(palette).is_file():
            raise ConfigError(
                f"--palette {palette}: neither a file nor a built-in dataset "
                f"({', '.join(DATASET_INFOS)})"
            )
        return load_palette(palette, name=root.name)
    for candidate in ("palette.json", "classes.txt"):
        if (root / candidate).is_file():
            return load_palette(root / candidate, name=root.name)
    raise DatasetLayoutError(
        f"{root}: no palette.json or classes.txt; add one or pass --palette FILE|DATASET"
    )


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """One source per split sub-folder of ROOT/images (or one 'all' split without them)."""
    root = Path(root)
    for d in (root, root / "images", root / "masks"):
        if not d.is_dir():
            raise DatasetLayoutError(f"{d}: folder not found (expected {LAYOUT})")
    info, void = resolve_info(root, palette)
    reader = partial(read_mask, palette=info.palette_array(), void_colors=void,
                     ignore_index=info.ignore_index)
    lut = identity_lut(info.num_classes, info.ignore_index)
    subdirs = sorted(d.name for d in (root / "images").iterdir() if d.is_dir())
    names = subdirs or ["all"]
    out = []
    for split in names:
        sub = "" if split == "all" else split
        if not (root / "masks" / sub).is_dir():
            raise DatasetLayoutError(
                f"{root / 'masks' / sub}: folder not found (images/{sub} has no masks/{sub})"
            )
        pairs, problems = _pair(root / "images" / sub, root / "masks" / sub)
        out.append(SplitSource(split, pairs, problems, info, lut, reader))
    return out


def dataset(
    root: str | Path,
    split: str = "all",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One split of a folder dataset as a ``SegmentationDataset``."""
    sources = {s.split: s for s in splits(root, palette)}
    if split not in sources:
        raise DatasetLayoutError(
            f"{root}: split {split!r} not found; available: {', '.join(sources)}"
        )
    source = sources[split]
    if not source.samples:
        raise DatasetLayoutError(f"{root}: split {split!r} has no image/mask pairs ({LAYOUT})")
    return source.dataset(transform)
