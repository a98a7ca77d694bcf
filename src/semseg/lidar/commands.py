"""The LiDAR side of ``semseg predict``, ``eval``, ``train`` and ``datasets`` (SemanticKITTI).

The command modules in ``semseg.cli`` hand over here when the inputs are ``.bin`` scans or
``--format semantickitti`` is given; every bad input raises a ``SemsegError`` before any write.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from semseg.errors import ConfigError, InputFileError, ModelError

SCAN_SUFFIX = ".bin"
FORMAT = "semantickitti"


def is_scan_input(inputs: list[str]) -> bool:
    """True when the inputs are LiDAR ``.bin`` scans (files, or folders/globs of them)."""
    return bool(inputs) and all(Path(i).suffix.lower() == SCAN_SUFFIX or (
        Path(i).is_dir() and any(Path(i).glob(f"*{SCAN_SUFFIX}"))) for i in inputs)


def expand_scans(inputs: list[str]) -> list[Path]:
    """Scan files from files and folders, in order, without duplicates."""
    files: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            files += sorted(p.glob(f"*{SCAN_SUFFIX}"))
        elif p.is_file():
            files.append(p)
        else:
            raise InputFileError(f"{raw}: file not found")
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems and stems[f.stem] != f:
            raise InputFileError(f"{f} and {stems[f.stem]}: same name stem {f.stem!r}, outputs "
                                 "would overwrite each other; predict them into separate folders")
        stems[f.stem] = f
    return list(dict.fromkeys(files))


def load_range_model(name_or_path: str, device: str = "cpu"):
    """(model, ModelSpec, RangeSpec) of a SemanticKITTI checkpoint; anything else raises."""
    from semseg.data.semantickitti import INFO
    from semseg.hub import loading
    from semseg.lidar.train import RangeSpec

    hint = ("no pretrained LiDAR model ships (SemanticKITTI is 80 GB), train one with "
            "`semseg train --format semantickitti --arch salsanext`")
    try:
        model, spec = loading.load(name_or_path, device=device)
    except ModelError as exc:
        raise ModelError(f"{exc}; {hint}") from None
    if spec.info.classes != INFO.classes or spec.in_channels != len(INFO.mean):
        raise ModelError(f"{name_or_path}: a {spec.info.name} model with {spec.in_channels} "
                         f"input channels; scans need a SemanticKITTI range-image model; {hint}")
    return model, spec, RangeSpec.from_model_spec(spec)


def run_predict(args: argparse.Namespace) -> int:
    """``semseg predict MODEL scan.bin ... -o OUT``: PLY, .label and PNGs per scan."""
    from semseg.data.semantickitti import INFO, decode, read_scan
    from semseg.lidar.inference import predict_scan
    from semseg.lidar.io import save_prediction

    if args.uncertainty and args.mc_samples < 1:
        raise ConfigError(f"--mc-samples {args.mc_samples}: expected >= 1")
    image_only = [flag for flag, on in (("--tta", args.tta), ("--scales", args.scales),
                                        ("--window", args.window), ("--probs", args.probs),
                                        ("--classes", args.classes)) if on]
    if image_only:
        raise ConfigError(f"{', '.join(image_only)}: image options; LiDAR scans take only "
                          "-o, --uncertainty, --mc-samples and --device")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"-o {output}: exists and is not a folder")
    files = expand_scans(args.inputs)
    scans = {f: read_scan(f) for f in files}  # every scan decodes before anything is written
    model, _, rs = load_range_model(args.model, args.device)
    mc = args.mc_samples if args.uncertainty else 0
    start = time.perf_counter()
    for f, points in scans.items():
        pred = predict_scan(model, points, rs.projection, rs.mean, rs.std, mc_samples=mc,
                            device=args.device)
        save_prediction(output, f.stem, points, pred, INFO.palette_array(), decode(pred.labels))
        shares = np.bincount(pred.labels, minlength=INFO.num_classes) / max(len(points), 1)
        top = ", ".join(f"{INFO.classes[k]} {100 * shares[k]:.0f}%"
                        for k in np.argsort(-shares)[:3])
        print(f"{f}: {len(points):,} points ({top})")
    seconds = time.perf_counter() - start
    print(f"predicted {len(scans)} scan(s) in {seconds:.1f} s -> {output}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """``semseg eval MODEL --data ROOT --format semantickitti``: point-wise IoU, 19 classes."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from semseg.data.semantickitti import INFO, split_scans
    from semseg.lidar.train import evaluate_scans

    scans = split_scans(args.data, args.split)[: args.limit]
    model, _, rs = load_range_model(args.model, args.device)
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"eval {args.split}", total=len(scans))
        cm = evaluate_scans(model, scans, rs, device=args.device,
                            progress=lambda n: bar.advance(task, n))
    scores = cm.compute()
    table = Table(title="per-class point scores (%)")
    for col in ("class", "IoU", "Acc", "Dice"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in scores.table(INFO.classes):
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"mIoU {100 * scores.miou:.2f}  point acc {100 * scores.pixel_acc:.2f}  "
                  f"({scores.num_pixels:,} labelled points in {len(scans)} scans)")
    if args.json_path:
        from semseg.fileio.images import atomic_write

        report = {"model": args.model, "data": str(args.data), "split": args.split,
                  "scans": len(scans), "range_image": [rs.projection.height, rs.projection.width],
                  **scores.to_dict(INFO.classes), "confusion_matrix": cm.matrix.tolist()}
        atomic_write(args.json_path, lambda tmp: Path(tmp).write_text(json.dumps(report,
                                                                                 indent=2)))
    return 0


def run_train(cfg, resume: bool = False) -> int:
    """``semseg train --format semantickitti``: SalsaNext's recipe on scans."""
    from semseg.lidar.train import main

    if resume:
        raise ConfigError("--resume is not supported for --format semantickitti yet; start a "
                          "new run (its best.pt and last.pt hold the weights)")
    summary = main(cfg)
    print(f"best val mIoU {100 * summary['best_miou']:.2f} -> {summary['out_dir']}/best.pt")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``semseg datasets verify ROOT --format semantickitti``: read every scan and label file."""
    from rich.console import Console

    from semseg.data.semantickitti import verify

    reports = verify(args.root, args.split)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        console = Console()
        for r in reports:
            console.print(r.summary(), highlight=False, soft_wrap=True)
        problems = [p for r in reports for p in r.problems]
        for p in problems[: args.max_problems]:
            console.print(f"[red]problem[/]: {p}", highlight=False, soft_wrap=True)
        if not problems:
            console.print("no problems found")
    if n := sum(len(r.problems) for r in reports):
        print(f"semseg datasets: error: {n} problem(s) found in {args.root}", file=sys.stderr)
        return 2
    return 0
