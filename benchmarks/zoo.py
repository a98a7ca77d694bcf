"""Train, evaluate and benchmark every registered architecture with one recipe; report them all.

Run from the repository root (resumable: finished stages are skipped, training resumes):

    PYTHONPATH=src python benchmarks/zoo.py runs/zoo --doc docs/benchmarks.md

The budget is either a fixed number of epochs (``--epochs N``, for a GPU) or, by default, the
same *training time* per architecture on this machine (``--budget-minutes M``): before anything
trains, every model's seconds per optimizer step (data loading included) are measured once and
written to ``RUNS/calibration.json``; each model then trains for ``floor(M * 60 / step_s)``
steps, a fixed number, so its schedule (10% warm-up, poly decay) is complete and the result does
not depend on how busy the machine is later. Light models get many epochs, heavy ones a
fraction of one: that is what a CPU buys, and the table says so.

For each architecture, ``RUNS/NAME/`` receives a training run (``semseg.training.train.main``:
best.pt,
last.pt, log.jsonl, config.json), ``train_summary.json`` (steps, epochs, wall time, device),
``eval.json`` (``semseg eval`` on CamVid val, labels at full 360x480 resolution, boundary F at
2 px) and ``bench.json`` (``semseg.tools.benchmark`` on the CPU at the model's network input,
batch 1,
eager torch and ONNX Runtime). All benchmarks run after all training, on an otherwise idle
machine. The shipped model ``default`` gets eval.json and bench.json in ``RUNS/default/``.
Finally ``semseg compare`` writes ``RUNS/report/`` and, with ``--doc``, the table in that file.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch

from semseg.cli import main as semseg_main
from semseg.cli.args import parse_size
from semseg.errors import SemsegError
from semseg.models import list_models
from semseg.tools.benchmark import LoadedModel, benchmark, load_average
from semseg.training.config import make_config
from semseg.training.log import read_log
from semseg.training.train import main as train_main
from semseg.training.train import train_calibration_step_s

# The recipe every architecture shares. From scratch (no ImageNet initialization, so no
# architecture gets an advantage the others cannot have here); --size sets crop and eval size.
RECIPE = {
    "format": "camvid", "batch_size": 8, "color_jitter": 0.3, "optimizer": "adamw", "lr": 2e-3,
    "weight_decay": 1e-4, "poly_power": 0.9, "class_weighting": "enet",
    "pretrained_backbone": False, "amp": True, "seed": 0, "threads": 2,
}
WARMUP_FRACTION = 0.1  # of all steps, linear warm-up before the poly decay
CAMVID_TRAIN_IMAGES = 367


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a stage's output exists only once it is complete


def _size_recipe(size: tuple[int, int]) -> dict:
    """Crops of ``size`` after scaling the 360x480 frames by 0.75-1.35x of size/360."""
    base = size[0] / 360
    return {"crop_size": size, "eval_size": size,
            "scale_range": (round(0.75 * base, 4), round(1.35 * base, 4))}


def _config(name: str, run: Path, args: argparse.Namespace, **overrides):
    recipe = {**RECIPE, **_size_recipe(args.size), "batch_size": args.batch_size,
              "workers": args.workers}
    return make_config(**{**recipe, **overrides}, arch=name, data=args.data, out_dir=str(run),
                       device=args.device, limit_val=args.limit_val)


def plan(step_s: float | None, args: argparse.Namespace) -> dict:
    """Epochs and steps per epoch: ``--epochs`` as given (``step_s`` unused), or what the time
    budget buys at ``step_s`` seconds per step."""
    full = CAMVID_TRAIN_IMAGES // args.batch_size
    if args.epochs:
        epochs, per_epoch = args.epochs, args.steps_per_epoch or full
    else:
        steps = max(1, math.floor(args.budget_minutes * 60 / step_s))
        epochs = math.ceil(steps / full)
        per_epoch = min(full, math.ceil(steps / epochs))
    return {"epochs": epochs, "steps_per_epoch": per_epoch, "steps": epochs * per_epoch}


def calibrate(names: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """Seconds per training step for every model, measured once and kept in calibration.json."""
    path = args.runs / "calibration.json"
    table = json.loads(path.read_text()) if path.is_file() else {}
    for name in (n for n in names if n not in table):
        cfg = _config(name, args.runs / name, args)
        step_s = train_calibration_step_s(cfg, steps=args.calibration_steps)
        table[name] = {"step_s": step_s, **plan(step_s, args), "load_average": load_average()}
        print(f"   {name}: {step_s:.2f} s/step -> {table[name]}", file=sys.stderr, flush=True)
        _write_json(path, table)
    return table


def train_stage(name: str, run: Path, args: argparse.Namespace, budget: dict) -> None:
    """Train ``name`` (resuming from last.pt) unless train_summary.json says it finished."""
    if (run / "train_summary.json").is_file():
        return
    epochs, per_epoch = budget["epochs"], budget["steps_per_epoch"]
    cfg = _config(name, run, args, epochs=epochs, steps_per_epoch=per_epoch, val_every=epochs,
                  warmup_epochs=WARMUP_FRACTION * epochs)
    start = time.perf_counter()
    result = train_main(cfg, resume=(run / "last.pt").is_file())
    log = read_log(run / "log.jsonl")
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    _write_json(run / "train_summary.json", {
        **result, "wall_s_this_session": time.perf_counter() - start,
        "train_s": sum(r["seconds"] for r in log), "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "budget_minutes": None if args.epochs else args.budget_minutes, **budget,
        "batch_size": cfg.batch_size, "crop_size": cfg.crop_size, "recipe": cfg.to_dict()})


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
    """CPU latency, params and GFLOPs at the model's network input into RUN/bench.json."""
    if (run / "bench.json").is_file():
        return
    loaded = LoadedModel.load(model)
    size = tuple(loaded.spec.input_size or args.size)
    report = benchmark(loaded, size=size, batch=1, device="cpu", threads=args.threads,
                       runtimes=("torch", "onnxruntime"), warmup=args.bench_warmup,
                       iters=args.bench_iters)
    _write_json(run / "bench.json", report.to_dict())


PUBLISHED = ("train_summary.json", "eval.json", "bench.json", "config.json", "log.jsonl")


def publish(folders: list[Path], runs: Path, target: Path) -> list[Path]:
    """Copy the small files of each run folder (no checkpoints) to ``target/NAME/``."""
    copies = []
    for run in folders:
        copies.append(target / run.name)
        copies[-1].mkdir(parents=True, exist_ok=True)
        for name in PUBLISHED:
            if (run / name).is_file():
                shutil.copyfile(run / name, copies[-1] / name)
    if (runs / "calibration.json").is_file():
        shutil.copyfile(runs / "calibration.json", target / "calibration.json")
    return copies


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the documented recipe and budget."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, help="folder for the run folders and report/")
    p.add_argument("--data", default="../shared/data/camvid", help="CamVid root")
    p.add_argument("--models", nargs="*", default=["*"], help="name patterns (default: all)")
    p.add_argument("--size", type=parse_size, default=(120, 160), help="crop and eval size HxW")
    p.add_argument("--budget-minutes", type=float, default=3.0,
                   help="training time per model on this machine (ignored with --epochs)")
    p.add_argument("--epochs", type=int, help="fixed epochs per model instead of a time budget")
    p.add_argument("--calibration-steps", type=int, default=2, help="timed steps per model")
    p.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--steps-per-epoch", type=int, help="with --epochs: cap steps (smoke checks)")
    p.add_argument("--limit-val", type=int, help="validate on the first N images (smoke only)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for latency")
    p.add_argument("--bench-warmup", type=int, default=5)
    p.add_argument("--bench-iters", type=int, default=30)
    p.add_argument("--no-default", action="store_true", help="skip the shipped default model")
    p.add_argument("--no-bench", action="store_true", help="stop after training and evaluation")
    p.add_argument("--doc", help="Markdown file whose 'semseg compare' block receives the table")
    p.add_argument("--publish", type=Path,
                   help="copy every run's small files (JSON reports, log) here and build the "
                        "report from those copies, e.g. docs/benchmarks/zoo")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Calibrate, train and evaluate every model, then benchmark them all, then report."""
    args = parse_args(argv)
    names = sorted({n for pattern in args.models for n in list_models(pattern)})
    calibration = {} if args.epochs else calibrate(names, args)
    folders = [args.runs / name for name in names]
    for name, run in zip(names, folders, strict=True):
        print(f"== {name}", file=sys.stderr, flush=True)
        step_s = calibration[name]["step_s"] if calibration else None
        train_stage(name, run, args, plan(step_s, args))
        eval_stage(str(run / "best.pt"), run, args)
    if not args.no_default:
        try:
            LoadedModel.load("default")
        except SemsegError as exc:  # weights not shipped in this build yet
            print(f"default model skipped: {exc}", file=sys.stderr)
        else:
            folders.append(args.runs / "default")
            folders[-1].mkdir(parents=True, exist_ok=True)
            eval_stage("default", folders[-1], args)
    if args.no_bench:
        return 0
    for run in folders:  # after all training: latency on a quiet machine
        print(f"== bench {run.name}", file=sys.stderr, flush=True)
        bench_stage("default" if run.name == "default" else str(run / "best.pt"), run, args)
    report = args.runs / "report"
    if args.publish:
        folders, report = publish(folders, args.runs, args.publish), args.publish.parent
    compare = ["compare", *map(str, folders), "-o", str(report)]
    return semseg_main(compare + (["--doc", args.doc] if args.doc else []))


if __name__ == "__main__":
    sys.exit(main())
