"""``semseg datasets``: check a dataset folder before training on it."""

from __future__ import annotations

import argparse
import json
import sys

# Spelled out so that ``--help`` needs no import of semseg.data (which imports torch).
FORMAT_NAMES = ("camvid, camvid32, voc, coco, ade20k, cityscapes, nyuv2, sunrgbd, folder, "
                "semantickitti")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg datasets verify`` and ``semseg datasets info``."""
    p = sub.add_parser("datasets", help="inspect and verify datasets on disk")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    v = dsub.add_parser(
        "verify",
        help="decode every image/mask pair; report class histogram and problems (exit 2 if any)",
    )
    v.add_argument("root", help="dataset root folder")
    v.add_argument("--format", required=True, help=f"dataset format: {FORMAT_NAMES}")
    v.add_argument("--palette", help="palette.json / classes.txt, or a built-in label set "
                   "(also picks e.g. camvid32, coco_things, nyuv2_13)")
    v.add_argument("--split", help="verify only this split")
    v.add_argument("--json", action="store_true", help="print a JSON report instead of tables")
    v.add_argument("--max-problems", type=int, default=20, help="problems listed (default 20)")
    v.set_defaults(func=run_verify)
    i = dsub.add_parser("info", help="classes, colours and expected folder tree of a dataset")
    i.add_argument("name", help=f"format ({FORMAT_NAMES}) or label set (e.g. nyuv2_13)")
    i.add_argument("--palette-png", metavar="OUT.png", help="write a colour swatch image")
    i.set_defaults(func=run_info)


def _print_tables(reports: list, info, max_problems: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in reports:
        sizes = ", ".join(f"{w}x{h} ({n})" for (h, w), n in r.sizes.most_common(3))
        sizes = sizes or "-"
        console.print(f"[bold]{r.split}[/]: {r.pairs} pairs, {r.ok_pairs} ok, sizes: {sizes}")
    table = Table(title=f"{info.name}: pixels per class")
    table.add_column("id", justify="right")
    table.add_column("class")
    for r in reports:
        table.add_column(f"{r.split} pixels", justify="right")
        table.add_column("share", justify="right")
        table.add_column("images", justify="right")
    rows = [(str(i), name) for i, name in enumerate(info.classes)] + [("-", "(ignore)")]
    for row_i, (cid, name) in enumerate(rows):
        cells = [cid, name]
        for r in reports:
            total = int(r.class_pixels.sum()) + r.ignore_pixels
            is_ignore = row_i == len(info.classes)
            n = r.ignore_pixels if is_ignore else int(r.class_pixels[row_i])
            share = f"{100 * n / total:.1f}%" if total else "-"
            images = "" if is_ignore else str(int(r.class_images[row_i]))
            cells += [f"{n:,}", share, images]
        table.add_row(*cells)
    console.print(table)
    problems = [p for r in reports for p in r.problems]
    for p in problems[:max_problems]:
        # soft_wrap: one problem per line, so long paths stay greppable
        console.print(f"[red]problem[/]: {p}", markup=True, highlight=False, soft_wrap=True)
    if len(problems) > max_problems:
        console.print(f"... and {len(problems) - max_problems} more problems")
    if not problems:
        console.print("no problems found")


def run_verify(args: argparse.Namespace) -> int:
    """Verify every split (or one) of a dataset folder."""
    from rich.progress import Progress

    from semseg.data import get_format
    from semseg.data.verify import verify_split
    from semseg.errors import DatasetLayoutError

    if args.format == "semantickitti":  # LiDAR scans, not image/mask pairs (semseg.lidar)
        from semseg.lidar.commands import run_verify as run_verify_scans

        return run_verify_scans(args)
    sources = get_format(args.format).splits(args.root, palette=args.palette)
    if args.split is not None:
        sources = [s for s in sources if s.split == args.split]
        if not sources:
            raise DatasetLayoutError(f"{args.root}: split {args.split!r} not found")
    reports = []
    quiet = args.json or not sys.stderr.isatty()
    with Progress(transient=True, disable=quiet) as bar:
        for source in sources:
            task = bar.add_task(f"verify {source.split}", total=len(source.samples))
            reports.append(verify_split(source, lambda n, t=task: bar.advance(t, n)))
    info = sources[0].info
    if args.json:
        out = {"format": args.format, "root": str(args.root), "classes": list(info.classes),
               "splits": [r.to_dict(info.classes) for r in reports]}
        print(json.dumps(out, indent=2))
    else:
        _print_tables(reports, info, args.max_problems)
    if n := sum(len(r.problems) for r in reports):
        # The report went to stdout; stderr gets the one-line error every failing command gives.
        print(f"semseg datasets: error: {n} problem(s) found in {args.root}", file=sys.stderr)
        return 2
    return 0


def _resolve(name: str):
    """The format module and label set (None for folder) that NAME names."""
    from semseg.data import DATASET_INFOS, FORMATS
    from semseg.errors import ConfigError

    if name == "semantickitti":  # LiDAR scans: kept out of the image FORMATS (semseg.lidar)
        from semseg.data import semantickitti

        return semantickitti, semantickitti.INFO
    if name in FORMATS:  # a format also naming a label set (camvid32) means that label set
        module = FORMATS[name]
        return module, getattr(module, "LABEL_SETS", {}).get(name, getattr(module, "INFO", None))
    for module in FORMATS.values():
        if name in getattr(module, "LABEL_SETS", {}):
            return module, module.LABEL_SETS[name]
    raise ConfigError(f"unknown dataset {name!r}; formats: {', '.join(FORMATS)}; label sets: "
                      f"{', '.join(DATASET_INFOS)}")


def palette_swatch(info, rows: int = 40):
    """An RGB uint8 image listing each class id and name beside its colour, in columns."""
    import numpy as np
    from PIL import Image, ImageDraw

    row_h, col_w, box_w = 18, 260, 36
    cols = -(-info.num_classes // rows)
    img = Image.new("RGB", (cols * col_w, min(rows, info.num_classes) * row_h + 4), "white")
    draw = ImageDraw.Draw(img)
    for k, (name, color) in enumerate(zip(info.classes, info.palette, strict=True)):
        x, y = (k // rows) * col_w + 4, (k % rows) * row_h + 2
        draw.rectangle((x, y, x + box_w, y + row_h - 4), fill=tuple(color), outline="black")
        draw.text((x + box_w + 6, y + 2), f"{k:3d} {name}", fill="black")
    return np.asarray(img)


def run_info(args: argparse.Namespace) -> int:
    """Print a dataset's classes with colour swatches and its expected folder tree."""
    import inspect

    from rich.console import Console
    from rich.table import Table

    from semseg.errors import ConfigError
    from semseg.fileio.images import save_image

    module, info = _resolve(args.name)
    console = Console()
    console.print(inspect.getdoc(module) or "", highlight=False, markup=False, soft_wrap=True)
    if info is None:
        if args.palette_png:
            raise ConfigError(f"{args.name}: classes come from the folder's palette file; "
                              "no fixed palette to draw")
        return 0
    sets = getattr(module, "LABEL_SETS", {info.name: info})
    table = Table(title=f"{info.name}: {info.num_classes} classes, ignore {info.ignore_index}, "
                  f"{len(info.mean)} input channels (label sets: {', '.join(sets)})")
    for column in ("id", "colour", "r, g, b", "class"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for k, (name, (r, g, b)) in enumerate(zip(info.classes, info.palette, strict=True)):
        table.add_row(str(k), f"[on rgb({r},{g},{b})]      [/]", f"{r}, {g}, {b}", name)
    console.print(table)
    if args.palette_png:
        save_image(args.palette_png, palette_swatch(info))
        console.print(f"palette swatch written to {args.palette_png}", highlight=False)
    return 0
