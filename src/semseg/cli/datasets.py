"""``semseg datasets``: check a dataset folder before training on it."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg datasets verify``."""
    p = sub.add_parser("datasets", help="inspect and verify datasets on disk")
    dsub = p.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)
    v = dsub.add_parser(
        "verify",
        help="decode every image/mask pair; report class histogram and problems (exit 2 if any)",
    )
    v.add_argument("root", help="dataset root folder")
    v.add_argument("--format", required=True, help="dataset format (camvid, folder, ...)")
    v.add_argument("--palette", help="palette.json / classes.txt, or a built-in dataset name")
    v.add_argument("--split", help="verify only this split")
    v.add_argument("--json", action="store_true", help="print a JSON report instead of tables")
    v.add_argument("--max-problems", type=int, default=20, help="problems listed (default 20)")
    v.set_defaults(func=run_verify)


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
