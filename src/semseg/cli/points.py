"""``semseg points``: clicks from masks, PCAMs pseudo-labels, and scoring of mask folders.

    semseg points simulate --data ../shared/data/camvid --protocol 1-per-class -o clicks/
    semseg train --supervision points --clicks clicks/ --point-loss pcam -o runs/pcam1  # stage 1
    semseg points pseudo runs/pcam1/best.pt --data ../shared/data/camvid --clicks clicks/ \
        -o pseudo/ --json pseudo.json                                                 # stage 2
    semseg train --train-masks pseudo/ -o runs/pcam3                                  # stage 3
    semseg points score pseudo/ --data ../shared/data/camvid --split train
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from semseg.cli.args import add_data_args

PROTOCOLS = ("1-per-class", "all-instances", "n-per-class")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg points`` with simulate / pseudo / score."""
    p = sub.add_parser("points", help="point supervision: clicks, PCAMs pseudo-labels, scoring")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    s = verbs.add_parser("simulate", help="write <stem>.json clicks simulated from the masks")
    add_data_args(s, "train")
    s.add_argument("--protocol", choices=PROTOCOLS, default="1-per-class")
    s.add_argument("--n", type=int, default=3, help="n-per-class: clicks per class")
    s.add_argument("--min-area", type=int, default=16,
                   help="all-instances: skip regions under this many pixels")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", required=True, help="folder for the JSON sidecars")
    s.set_defaults(func=run_simulate)
    q = verbs.add_parser("pseudo", help="PCAMs stage 2: pseudo-label masks from a point-CAM model")
    q.add_argument("model", help="stage-1 checkpoint (semseg train --point-loss pcam)")
    add_data_args(q, "train")
    q.add_argument("--clicks", help="folder of <stem>.json clicks (default: simulated)")
    q.add_argument("--click-protocol", choices=PROTOCOLS, default="1-per-class")
    q.add_argument("--limit", type=int, help="only the first N images")
    from semseg.points.pcams import AffinityParams

    for name, value in vars(AffinityParams()).items():
        q.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                       help=f"(default {value}; --seed also seeds simulated clicks)"
                       if name == "seed" else f"(default {value})")
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("-o", "--output", required=True, help="folder for <stem>.png pseudo-labels")
    q.add_argument("--json", dest="json_path", help="write stats and scores against the masks")
    q.set_defaults(func=run_pseudo)
    c = verbs.add_parser("score", help="score a folder of <stem>.png masks against a split")
    c.add_argument("predictions", help="folder of <stem>.png index masks")
    add_data_args(c, "val")
    c.add_argument("--limit", type=int, help="only the first N images")
    c.add_argument("--json", dest="json_path", help="write the report as JSON here")
    c.set_defaults(func=run_score)


def _write(path: str | None, report: dict) -> None:
    if path:
        from semseg.fileio.images import atomic_write

        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))


def _print(report: dict) -> None:
    print(f"{report['images']} images: mIoU {100 * report['miou']:.2f}  pixel acc "
          f"{100 * report['pixel_acc']:.2f}  boundary F {100 * report['boundary_f']:.2f}")


def run_simulate(args: argparse.Namespace) -> int:
    """Write click sidecars for a split."""
    from semseg.metrics.mask_scores import split_dataset
    from semseg.points.clicks import simulate_split

    ds = split_dataset(args.data, args.format, args.split, args.palette)
    stats = simulate_split(ds, args.output, args.protocol, args.seed, args.n, args.min_area)
    print(f"{stats['clicks']} clicks on {stats['images']} images "
          f"({stats['clicks_per_image']:.2f} per image) -> {args.output}")
    return 0


def run_pseudo(args: argparse.Namespace) -> int:
    """Stage 2 of PCAMs, then score the pseudo-labels against the split's real masks."""
    import torch

    from semseg.metrics.mask_scores import score_mask_folder, split_dataset
    from semseg.points.data import PointDataset
    from semseg.points.pcams import AffinityParams, make_pseudo_labels

    torch.set_num_threads(args.threads)
    params = AffinityParams(**{k: getattr(args, k) for k in vars(AffinityParams())})
    ds = PointDataset(split_dataset(args.data, args.format, args.split, args.palette),
                      args.clicks, args.click_protocol, args.seed)
    stats = make_pseudo_labels(args.model, ds, args.output, params, args.limit, progress=print)
    report = {**score_mask_folder(args.output, args.data, args.format, args.split, args.palette,
                                  stats["images"]), **stats, "params": vars(params)}
    _print(report)
    _write(args.json_path, report)
    return 0


def run_score(args: argparse.Namespace) -> int:
    """Score a folder of masks."""
    from semseg.metrics.mask_scores import score_mask_folder

    report = score_mask_folder(args.predictions, args.data, args.format, args.split, args.palette,
                               args.limit)
    _print(report)
    _write(args.json_path, report)
    return 0
