"""``semseg bench MODEL_OR_CKPT``: parameters, GFLOPs, peak memory and latency of a model."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from semseg.cli.args import add_device_argument, parse_device, parse_size
from semseg.threads import add_threads_argument

RUNTIME_CHOICES = {"torch": ("torch",), "onnxruntime": ("onnxruntime",),
                   "both": ("torch", "onnxruntime")}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg bench``."""
    p = sub.add_parser("bench", help="measure params, GFLOPs, memory and latency of a model")
    p.add_argument("model", help="architecture name (random init), checkpoint file, or "
                                 "pretrained name such as 'default'")
    p.add_argument("--size", default="360x480", help="input HxW (default 360x480)")
    p.add_argument("--batch", type=int, default=1, help="images per forward (default 1)")
    add_threads_argument(p)
    add_device_argument(p)
    p.add_argument("--runtime", default="torch", choices=list(RUNTIME_CHOICES),
                   help="eager torch, ONNX Runtime, or both (default torch)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--iters", type=int, default=30,
                   help="timed runs (default 30; 0 measures only params and GFLOPs)")
    p.add_argument("--num-classes", type=int,
                   help="classes of a randomly initialized architecture (default 11, CamVid)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor argument of an architecture, e.g. base_width=8 (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead")
    p.add_argument("-o", "--output", help="also write the JSON report to this file")
    p.set_defaults(func=run)


def parse_model_args(items: list[str]) -> dict[str, Any]:
    """['base_width=8', 'up=bilinear'] -> {'base_width': 8, 'up': 'bilinear'} (values as JSON)."""
    from semseg.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"bad --model-arg {item!r}; expected KEY=VALUE, e.g. base_width=8")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare word such as bilinear
    return out


def print_report(report: Any) -> None:
    """A rich table: one row per runtime, with the conditions above and the definitions below."""
    from rich.console import Console
    from rich.table import Table

    h, w = report.input_size
    load = report.load_average
    cores = report.environment["cpu_count"]
    table = Table(title=f"semseg bench {report.model} ({report.source}: {report.arch})")
    for col in ("runtime", "p50 ms", "p90 ms", "mean ms", "img/s", "peak MB", "load 1 min"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for r in report.runtimes.values():
        peak = "-" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.1f}"
        table.add_row(r.runtime, f"{r.p50_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.mean_ms:.2f}",
                      f"{r.fps:.1f}", peak,
                      f"{r.load_average_before[0]:.2f}->{r.load_average_after[0]:.2f}")
    console = Console()
    console.print(f"params {report.params / 1e6:.3f} M   GFLOPs {report.gflops:.2f} per "
                  f"{h}x{w} image   batch {report.batch}   device {report.device}   "
                  f"threads {report.threads}   load average {load[0]:.2f} on {cores} cores")
    if report.runtimes:
        console.print(table)
        for r in report.runtimes.values():
            console.print(f"[dim]{r.runtime} peak memory: {r.memory_method}[/dim]")
    else:
        console.print("latency not measured (--iters 0)")
    console.print(f"[dim]{report.flops_note}. Latency after {report.warmup} warm-up runs, "
                  f"{report.iters} timed; a load average above {cores} inflates it.[/dim]")


def run(args: argparse.Namespace) -> int:
    """Load the model, measure it, print a table or JSON."""
    from semseg.threads import set_threads
    from semseg.tools.benchmark import LoadedModel, benchmark

    size, device = parse_size(args.size), parse_device(args.device)
    threads = set_threads(args.threads)
    model_args = parse_model_args(args.model_arg)
    loaded = LoadedModel.load(args.model, num_classes=args.num_classes, arch_kwargs=model_args)
    # In JSON mode stdout must hold the JSON alone, whatever the exporters print.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet:
        report = benchmark(loaded, size=size, batch=args.batch, threads=threads,
                           device=device, runtimes=RUNTIME_CHOICES[args.runtime],
                           warmup=args.warmup, iters=args.iters)
    text = json.dumps(report.to_dict(), indent=2)
    if args.output:
        from semseg.fileio.images import atomic_write

        atomic_write(args.output, lambda tmp: Path(tmp).write_text(text + "\n"))
    if args.json:
        print(text)
    else:
        print_report(report)
    return 0
