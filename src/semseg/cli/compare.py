"""``semseg compare RUNS... -o report/``: one speed/accuracy table and plot from many results.

Each RUN is a training run folder, a ``semseg eval --json`` report or a ``semseg bench --json``
report; `semseg.tools.report` merges them into one row per model and writes the files.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from semseg.tools.report import BEGIN, END


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg compare``."""
    p = sub.add_parser("compare", help="merge run folders and eval/bench JSON into a "
                                       "Markdown table and a speed/accuracy plot")
    p.add_argument("runs", nargs="+", help="run folders, eval JSON or bench JSON files")
    p.add_argument("-o", "--output", required=True,
                   help="folder for benchmarks.md, benchmarks.json, speed_accuracy.png")
    p.add_argument("--doc", help="also replace the block between the markers "
                                 f"'{BEGIN}' and '{END}' in this Markdown file")
    p.add_argument("--x", dest="x_axis", choices=["cpu", "ort"], default="cpu",
                   help="latency on the plot's x axis: eager torch (cpu) or ONNX Runtime (ort)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect, then write benchmarks.md, benchmarks.json and speed_accuracy.png."""
    from semseg.tools.report import collect, write_report

    rows = collect(args.runs)
    command = shlex.join(["semseg", "compare", *args.runs, "-o", args.output]
                         + (["--doc", args.doc] if args.doc else [])
                         + (["--x", args.x_axis] if args.x_axis != "cpu" else []))
    doc = Path(args.doc) if args.doc else None
    out = Path(args.output)
    plotted = write_report(rows, out, command, doc, args.x_axis)
    print(f"wrote {out / 'benchmarks.md'} ({len(rows)} models, {plotted} on the plot)")
    return 0
