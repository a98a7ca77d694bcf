"""``semseg forest``: train, run and score per-pixel random forests (``semseg.forest``).

    semseg forest train --kind learned --data ../shared/data/camvid -o forest.npz
    semseg forest predict forest.npz frame.png frames/ -o out/       # <stem>.png index masks
    semseg forest eval forest.npz --data ../shared/data/camvid --split val --json scores.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from semseg.cli.args import add_data_args


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg forest`` with train / predict / eval."""
    from semseg.forest.model import KINDS, ForestParams

    p = sub.add_parser("forest", help="random forests: learned filters, pixel pairs, CNN head")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    t = verbs.add_parser("train", help="train a forest on a dataset split")
    t.add_argument("--kind", choices=KINDS, default="learned")
    add_data_args(t, "train")
    defaults = ForestParams()
    for name, value in vars(defaults).items():
        t.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                       help=f"(default {value})")
    t.add_argument("--cnn", default="camvid-litefpn",
                   help="cnn-head: model name or checkpoint whose features feed the forest")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    t.add_argument("-o", "--output", required=True, help="forest file (.npz)")
    t.set_defaults(func=run_train)
    r = verbs.add_parser("predict", help="write <stem>.png index masks for images")
    r.add_argument("forest", help="forest file (.npz)")
    r.add_argument("inputs", nargs="+", help="image files or folders")
    r.add_argument("-o", "--output", required=True, help="output folder")
    r.add_argument("--smooth", type=int, default=0, help="edge-aware smoothing iterations")
    r.add_argument("--threads", type=int, default=1)
    r.set_defaults(func=run_predict)
    e = verbs.add_parser("eval", help="score a forest on a split (mIoU, pixel acc, boundary F)")
    e.add_argument("forest", help="forest file (.npz)")
    add_data_args(e, "val")
    e.add_argument("--limit", type=int, help="only the first N images")
    e.add_argument("--smooth", type=int, default=0, help="edge-aware smoothing iterations")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--json", dest="json_path", help="write the report as JSON here")
    e.set_defaults(func=run_eval)


def _threads(n: int) -> None:
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def run_train(args: argparse.Namespace) -> int:
    """Train and save a forest."""
    from semseg.forest.model import ForestParams, train_forest
    from semseg.metrics.mask_scores import split_dataset

    _threads(args.threads)
    params = ForestParams(**{k: getattr(args, k) for k in vars(ForestParams())})
    ds = split_dataset(args.data, args.format, args.split, args.palette)
    forest = train_forest(ds, args.kind, params, cnn=args.cnn, progress=print)
    path = forest.save(args.output)
    print(f"{args.kind} forest, {len(forest.trees)} trees, "
          f"{forest.meta['train_seconds']:.0f} s -> {path}")
    return 0


def _inputs(items: list[str]) -> list[Path]:
    from semseg.errors import InputFileError
    from semseg.fileio.images import list_images

    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files += list_images(p)
        elif p.is_file():
            files.append(p)
        else:
            raise InputFileError(f"{p}: no such file or folder")
    return files


def run_predict(args: argparse.Namespace) -> int:
    """Segment images into index masks."""
    import numpy as np

    from semseg.fileio.images import read_image, save_image
    from semseg.forest.model import Forest

    _threads(args.threads)
    forest = Forest.load(args.forest)
    files = _inputs(args.inputs)
    images = [read_image(f) for f in files]  # decode everything before writing anything
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for f, image in zip(files, images, strict=True):
        save_image(out / f"{f.stem}.png", forest.predict(image, args.smooth).astype(np.uint8))
    print(f"{len(files)} masks -> {out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Score on a split; reports ms per frame too."""
    from semseg.fileio.images import atomic_write
    from semseg.forest.model import Forest
    from semseg.metrics.mask_scores import score_masks, split_dataset

    _threads(args.threads)
    forest = Forest.load(args.forest)
    ds = split_dataset(args.data, args.format, args.split, args.palette)
    n = min(args.limit or len(ds), len(ds))
    seconds: list[float] = []
    cpu: list[float] = []

    def pairs():
        for i in range(n):
            image, mask = ds.load(i)
            start, c = time.perf_counter(), time.process_time()
            pred = forest.predict(image, args.smooth)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - c)
            yield pred, mask

    report = score_masks(pairs(), list(forest.classes), ds.info.ignore_index)
    report.update(forest=str(args.forest), kind=forest.kind, split=args.split,
                  smooth_iters=args.smooth, ms_per_frame=1000 * sorted(seconds)[len(seconds) // 2],
                  cpu_ms_per_frame=1000 * sorted(cpu)[len(cpu) // 2])
    print(f"mIoU {100 * report['miou']:.2f}  pixel acc {100 * report['pixel_acc']:.2f}  "
          f"boundary F {100 * report['boundary_f']:.2f}  {report['ms_per_frame']:.0f} ms/frame")
    if args.json_path:
        atomic_write(args.json_path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    return 0
