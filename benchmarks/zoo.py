"""Train, evaluate and benchmark every registered architecture with one recipe; report them all.

Run from the repository root (resumable: finished stages are skipped, training resumes):

    PYTHONPATH=src python benchmarks/zoo.py runs/zoo --doc docs/benchmarks.md

For each architecture, ``RUNS/NAME/`` receives a training run (``semseg.train.main``: best.pt,
last.pt, log.jsonl, config.json), ``train_summary.json`` (epochs, wall time, device),
``eval.json`` (``semseg eval`` on CamVid val at full resolution, boundary F at 2 px) and
``bench.json`` (``semseg.benchmark`` on the CPU at 360x480, batch 1, both runtimes). The shipped
model ``default`` gets eval.json and bench.json in ``RUNS/default/``. Finally ``semseg compare``
writes ``RUNS/report/`` and, with ``--doc``, the table in that Markdown file.

The recipe (``RECIPE``) is the same for every model: from scratch (no ImageNet initialization,
so that no architecture gets an advantage the others cannot have here), AdamW, poly schedule,
ENet class weights, 360x480 crops after 0.5-2x scaling, evaluation at native resolution. The
number of epochs is the budget: ``--epochs`` (default 30) and is recorded per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from semseg.benchmark import benchmark, load_any
from semseg.cli import main as semseg_main
from semseg.config import make_config
from semseg.errors import SemsegError
from semseg.models import list_models
from semseg.train import main as train_main

RECIPE = {
    "format": "camvid", "batch_size": 8, "crop_size": (360, 480), "scale_range": (0.5, 2.0),
    "color_jitter": 0.3, "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-4,
    "warmup_epochs": 1.0, "poly_power": 0.9, "class_weighting": "enet",
    "pretrained_backbone": False, "amp": True, "seed": 0, "val_every": 5,
}
BENCH = {"size": (360, 480), "batch": 1, "device": "cpu", "runtimes": ("torch", "onnxruntime")}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a stage's output exists only once it is complete


def train_stage(name: str, run: Path, args: argparse.Namespace) -> None:
    """Train ``name`` (resuming from last.pt) unless train_summary.json says it finished."""
    if (run / "train_summary.json").is_file():
        return
    recipe = {**RECIPE, "batch_size": args.batch_size}
    cfg = make_config(**recipe, arch=name, data=args.data, out_dir=str(run), epochs=args.epochs,
                      device=args.device, steps_per_epoch=args.steps_per_epoch,
                      limit_val=args.limit_val, workers=args.workers)
    start = time.perf_counter()
    result = train_main(cfg, resume=(run / "last.pt").is_file())
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    _write_json(run / "train_summary.json", {
        **result, "wall_s_this_session": time.perf_counter() - start, "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "recipe": RECIPE, "epochs": cfg.epochs, "steps_per_epoch": cfg.steps_per_epoch,
        "batch_size": cfg.batch_size})


def eval_stage(model: str, run: Path, args: argparse.Namespace) -> None:
    """``semseg eval MODEL --split val`` into RUN/eval.json unless it exists."""
    if (run / "eval.json").is_file():
        return
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    argv = ["eval", model, "--data", args.data, "--split", "val", "--device", device,
            "--json", str(run / "eval.json")]
    if args.limit_val:
        argv += ["--limit", str(args.limit_val)]
    if semseg_main(argv) != 0:
        raise SystemExit(f"semseg eval failed for {model}")


def bench_stage(model: str, run: Path, args: argparse.Namespace) -> None:
    """CPU latency, params and GFLOPs into RUN/bench.json unless it exists."""
    if (run / "bench.json").is_file():
        return
    report = benchmark(load_any(model), threads=args.threads, warmup=args.bench_warmup,
                       iters=args.bench_iters, **BENCH)
    _write_json(run / "bench.json", report.to_dict())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the documented recipe and budget."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, help="folder for the run folders and report/")
    p.add_argument("--data", default="../shared/data/camvid", help="CamVid root")
    p.add_argument("--models", nargs="*", default=["*"], help="name patterns (default: all)")
    p.add_argument("--epochs", type=int, default=30, help="training budget per model")
    p.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--steps-per-epoch", type=int, help="cap steps (smoke checks only)")
    p.add_argument("--limit-val", type=int, help="validate on the first N images (smoke only)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for latency")
    p.add_argument("--bench-warmup", type=int, default=10)
    p.add_argument("--bench-iters", type=int, default=50)
    p.add_argument("--no-default", action="store_true", help="skip the shipped default model")
    p.add_argument("--doc", help="Markdown file whose 'semseg compare' block receives the table")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Every stage of every model, then the comparison report."""
    args = parse_args(argv)
    names = sorted({n for pattern in args.models for n in list_models(pattern)})
    folders = []
    for name in names:
        run = args.runs / name
        print(f"== {name}", file=sys.stderr, flush=True)
        train_stage(name, run, args)
        eval_stage(str(run / "best.pt"), run, args)
        bench_stage(str(run / "best.pt"), run, args)
        folders.append(run)
    if not args.no_default:
        try:
            load_any("default")
        except SemsegError as exc:  # weights not shipped in this build yet
            print(f"default model skipped: {exc}", file=sys.stderr)
        else:
            run = args.runs / "default"
            run.mkdir(parents=True, exist_ok=True)
            eval_stage("default", run, args)
            bench_stage("default", run, args)
            folders.append(run)
    compare = ["compare", *map(str, folders), "-o", str(args.runs / "report")]
    return semseg_main(compare + (["--doc", args.doc] if args.doc else []))


if __name__ == "__main__":
    sys.exit(main())
