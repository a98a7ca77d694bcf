"""``semseg score PRED_DIR GT_DIR``: score third-party prediction PNGs against ground truth.

Files pair by the ``{id}`` part of a name pattern (numeric ids compare as numbers, so ``433.png``
pairs with ``new_nyu_class13_0433.png``). Value maps turn either side into class ids 0..K-1 (255
= ignored, ground truth only); they apply in the order given:

    offset:N        add N (0-based from 1-based: ``offset:-1``; values that go below 0 are ignored)
    FROM->TO        a label-set map of semseg.data.label_maps, e.g. ``nyuv2->nyuv2_13``
    3=0,4=1,0=255   explicit value=id pairs (unlisted values are an error)
    FILE.json       a JSON object {"value": id, ...}

The report (table, JSON, confusion PNG) is ``semseg eval``'s, from the same confusion matrix.

Example (official 3DGNN NYUv2 predictions, 0-based 40-class ids, against the public 13-class
ground truth, 1-based with 0 = unlabelled)::

    semseg score 3DGNN/result/nyu_40 test_labels_13 --classes nyuv2_13 \\
        --pred-pattern '{id}.png' --gt-pattern 'new_nyu_class13_{id}.png' \\
        --pred-map 'nyuv2->nyuv2_13' --gt-map offset:-1
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from semseg.errors import ConfigError, InputFileError, LabelError

IGNORE = 255


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg score``."""
    p = sub.add_parser("score", help="score prediction PNGs against ground-truth PNGs")
    p.add_argument("pred_dir", help="folder of predicted class-id PNGs")
    p.add_argument("gt_dir", help="folder of ground-truth label PNGs")
    p.add_argument("--classes", help="label set name (e.g. nyuv2_13, camvid): class names")
    p.add_argument("--num-classes", type=int, help="number of classes when no --classes")
    p.add_argument("--pred-pattern", default="{id}.png",
                   help="prediction file names, {id} marks the pairing key (default {id}.png)")
    p.add_argument("--gt-pattern", default="{id}.png", help="ground-truth file names")
    p.add_argument("--pred-map", action="append", default=[], metavar="MAP",
                   help="value map for predictions (repeatable; see the module help)")
    p.add_argument("--gt-map", action="append", default=[], metavar="MAP",
                   help="value map for ground truth (repeatable)")
    p.add_argument("--boundary-tolerance", type=int, default=2,
                   help="boundary F-score tolerance in pixels (default 2; -1 disables)")
    p.add_argument("--json", dest="json_path", help="write the full report as JSON here")
    p.add_argument("--confusion-png", help="write the row-normalized confusion matrix PNG here")
    p.set_defaults(func=run)


def pattern_regex(pattern: str) -> re.Pattern:
    """A file-name pattern with one ``{id}`` as a regular expression capturing the id."""
    if pattern.count("{id}") != 1:
        raise ConfigError(f"pattern {pattern!r} must contain {{id}} exactly once")
    head, tail = pattern.split("{id}")
    return re.compile(re.escape(head) + r"(.+?)" + re.escape(tail) + r"\Z")


def _key(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def index_files(folder: Path, pattern: str) -> dict[str | int, Path]:
    """Files of ``folder`` matching ``pattern``, keyed by their id."""
    if not folder.is_dir():
        raise InputFileError(f"{folder}: folder not found")
    regex, out = pattern_regex(pattern), {}
    for path in sorted(folder.iterdir()):
        if m := regex.match(path.name):
            key = _key(m.group(1))
            if key in out:
                raise InputFileError(f"{path}: same id as {out[key].name} under {pattern!r}")
            out[key] = path
    if not out:
        raise InputFileError(f"{folder}: no file matches {pattern!r}")
    return out


def pair_files(pred_dir: Path, gt_dir: Path, pred_pattern: str,
               gt_pattern: str) -> list[tuple[Path, Path]]:
    """(prediction, ground truth) pairs; every ground-truth file needs a prediction."""
    preds, gts = index_files(pred_dir, pred_pattern), index_files(gt_dir, gt_pattern)
    missing = [gts[k] for k in gts if k not in preds]
    if missing:
        raise InputFileError(f"{missing[0]}: no prediction matching {pred_pattern!r} in "
                             f"{pred_dir} ({len(missing)} of {len(gts)} ground-truth files)")
    return [(preds[k], gts[k]) for k in sorted(gts, key=lambda k: (isinstance(k, str), k))]


def parse_map(spec: str) -> np.ndarray:
    """A value map as a 65536-entry lookup table (-1 = value not allowed, 255 = ignore)."""
    lut = np.full(65536, -1, dtype=np.int64)
    if spec.startswith("offset:"):
        try:
            n = int(spec[7:])
        except ValueError:
            raise ConfigError(f"value map {spec!r}: expected offset:INTEGER") from None
        values = np.arange(65536) + n
        return np.where(values < 0, IGNORE, values)
    if "->" in spec:
        from semseg.data.label_maps import lookup_table

        table = lookup_table(*spec.split("->", 1))
        lut[: len(table)] = table
        lut[IGNORE] = IGNORE
        return lut
    if spec.endswith(".json"):
        try:
            pairs = json.loads(Path(spec).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{spec}: not a readable JSON value map ({exc})") from None
    else:
        try:
            pairs = dict(p.split("=") for p in spec.split(","))
        except ValueError:
            raise ConfigError(f"value map {spec!r}: expected offset:N, FROM->TO, a .json "
                              "file or value=id pairs like 1=0,2=1,0=255") from None
    try:
        for value, target in pairs.items():
            lut[int(value)] = int(target)
    except (ValueError, TypeError, IndexError, AttributeError):
        raise ConfigError(f"value map {spec!r}: values and ids must be integers") from None
    return lut


def apply_maps(values: np.ndarray, maps: list[tuple[str, np.ndarray]], path: Path) -> np.ndarray:
    """``values`` through each lookup table in turn; undefined values raise ``LabelError``."""
    for spec, lut in maps:
        if values.min() < 0 or values.max() >= len(lut):
            raise LabelError(f"{path}: values outside 0..65535 for map {spec!r}")
        mapped = lut[values]
        if (mapped < 0).any():
            bad = np.unique(values[mapped < 0])[:10].tolist()
            raise LabelError(f"{path}: values {bad} are not in the map {spec!r}")
        values = mapped
    return values


def read_ids(path: Path, maps: list[tuple[str, np.ndarray]], num_classes: int,
             allow_ignore: bool) -> np.ndarray:
    """A label PNG as (H, W) class ids after the value maps, checked against 0..K-1 (255)."""
    from semseg.fileio.images import read_mask

    ids = apply_maps(read_mask(path), maps, path)
    bad = (ids >= num_classes) & ~((ids == IGNORE) & allow_ignore)
    if bad.any():
        shown = np.unique(ids[bad])[:10].tolist()
        what = f"0..{num_classes - 1}" + (f" or {IGNORE}" if allow_ignore else "")
        hint = "map them with --gt-map" if allow_ignore else "map them with --pred-map"
        raise LabelError(f"{path}: ids {shown} after the value maps are not {what}; {hint}")
    return ids


def _classes(args: argparse.Namespace) -> tuple[str, ...]:
    if args.classes:
        from semseg.data import DATASET_INFOS

        if args.classes not in DATASET_INFOS:
            raise ConfigError(f"unknown label set {args.classes!r}; choose from "
                              f"{', '.join(DATASET_INFOS)}")
        return tuple(DATASET_INFOS[args.classes].classes)
    if not args.num_classes or args.num_classes < 1:
        raise ConfigError("give --classes NAME or --num-classes K")
    return tuple(str(i) for i in range(args.num_classes))


def run(args: argparse.Namespace) -> int:
    """Score every pair and report."""
    import torch

    from semseg.cli.eval import write_report
    from semseg.metrics.boundary import BoundaryFScore
    from semseg.metrics.confusion import ConfusionMatrix

    classes = _classes(args)
    k = len(classes)
    pred_maps = [(s, parse_map(s)) for s in args.pred_map]
    gt_maps = [(s, parse_map(s)) for s in args.gt_map]
    pairs = pair_files(Path(args.pred_dir), Path(args.gt_dir), args.pred_pattern,
                       args.gt_pattern)
    tol = None if args.boundary_tolerance < 0 else args.boundary_tolerance
    cm = ConfusionMatrix(k, IGNORE)
    bf = None if tol is None else BoundaryFScore(k, tolerance=tol, ignore_index=IGNORE)
    for pred_path, gt_path in pairs:
        pred = read_ids(pred_path, pred_maps, k, allow_ignore=False)
        gt = read_ids(gt_path, gt_maps, k, allow_ignore=True)
        if pred.shape != gt.shape:
            raise InputFileError(f"{pred_path}: {pred.shape[1]}x{pred.shape[0]} but ground "
                                 f"truth {gt_path.name} is {gt.shape[1]}x{gt.shape[0]}")
        p, t = torch.from_numpy(pred)[None], torch.from_numpy(gt)[None]  # (1, H, W)
        cm.update(p, t)
        if bf is not None:
            bf.update(p, t)
    head = {"predictions": str(args.pred_dir), "ground_truth": str(args.gt_dir),
            "images": len(pairs), "pred_map": args.pred_map, "gt_map": args.gt_map}
    write_report(head, cm, bf, classes, tol, args.json_path, args.confusion_png)
    print(f"{len(pairs)} image pairs scored", file=sys.stderr)
    return 0
