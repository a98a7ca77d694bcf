"""Write docs/models.md: parameters and GFLOPs of every registered model next to its paper's.

Run from the repository root:

    PYTHONPATH=src python benchmarks/model_table.py --out docs/models.md

With ``--overfit-logs DIR`` (the ``--basetemp`` of a run of the slow test
``tests/models/test_models.py::test_overfits_two_camvid_images``) the page also gets a table of
what that test measured for each model, read from the training logs it left there.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on a (1, 3, 360, 480) input with 11
classes (CamVid). That counter reports 2 FLOPs per multiply-accumulate of convolutions and matrix
products and nothing for element-wise ops (BN, activations, pooling, interpolation). The models
are built and run on the ``meta`` device, so no memory is allocated and nothing is computed.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from semseg.models import create_model, list_models, model_entry
from semseg.training.log import read_log

COMMAND = "PYTHONPATH=src python benchmarks/model_table.py --out docs/models.md"


@dataclass(frozen=True)
class Row:
    """Measured and published size of one model."""

    name: str
    params: int
    gflops: float  # 2 * GMACs at the measured size
    paper_params: float | None
    paper_gflops: float | None
    note: str
    paper: str
    module: str


def measure(name: str, num_classes: int, size: tuple[int, int]) -> Row:
    """Parameters and forward GFLOPs of ``name`` in eval mode, measured on the meta device."""
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes).eval()
        x = torch.empty(1, 3, *size)
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    entry = model_entry(name)
    return Row(name, params, counter.get_total_flops() / 1e9, entry.paper_params,
               entry.paper_gflops, entry.note, entry.paper, entry.builder.__module__)


@dataclass(frozen=True)
class Overfit:
    """What the slow overfit test measured for one model (from its run directory)."""

    name: str
    lr: float
    epochs: int  # epochs trained when the test stopped
    pixel_acc: float  # at the last evaluation, on the two training frames at full resolution
    miou: float
    train_s: float  # training time, summed over epochs (evaluation excluded)


def read_overfit(basetemp: Path, name: str) -> Overfit | None:
    """The last evaluation of ``name`` in a pytest ``--basetemp`` of the overfit test."""
    runs = {p.resolve() for p in basetemp.glob(f"*/{name}/log.jsonl")}
    if len(runs) != 1:
        return None
    log = runs.pop()
    # a resumed epoch replaces its first try, as in the trainer's own plot
    epochs = {r["epoch"]: r for r in read_log(log)}
    evals = [epochs[e] for e in sorted(epochs) if "pixel_acc" in epochs[e]]
    if not evals:
        return None
    cfg = json.loads((log.parent / "config.json").read_text())
    last = evals[-1]
    return Overfit(name, cfg["lr"], last["epoch"], last["pixel_acc"], last["miou"],
                   sum(r["seconds"] for r in epochs.values()))


def render_overfit(results: list[Overfit], missing: list[str]) -> list[str]:
    """Markdown lines: the overfit test's per-model outcome."""
    lines = [
        "## Slow test: every model fits two CamVid frames",
        "",
        "`tests/models/test_models.py::test_overfits_two_camvid_images` trains each model from "
        "scratch with `semseg.training.train.main` on two CamVid training frames (180x240, "
        "batch 2, "
        "AdamW, no augmentation, no weight decay) and scores the same two frames at the full "
        "360x480 label resolution. It passes at >= 85% pixel accuracy, checked every 50 epochs "
        "(resuming the run) up to 400. Read from the logs of `pytest -m slow "
        "tests/models/test_models.py --basetemp DIR` on the 2-core CPU this page was built on.",
        "",
        "| model | lr | epochs | pixel acc (%) | mIoU (%) | train time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| `{r.name}` | {r.lr:g} | {r.epochs} | {100 * r.pixel_acc:.1f} | "
                     f"{100 * r.miou:.1f} | {r.train_s:.0f} |")
    if missing:
        lines += ["", "No log found for: " + ", ".join(f"`{m}`" for m in missing) + "."]
    return [*lines, ""]


def _fmt(value: float | None, scale: float, digits: int) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


def render(rows: list[Row], num_classes: int, size: tuple[int, int],
           overfit: list[str] | None = None) -> str:
    """The Markdown page: a table, the overfit lines if any, then each family's docstring."""
    h, w = size
    command = COMMAND + (" --overfit-logs DIR" if overfit else "")
    lines = [
        "# Model zoo",
        "",
        f"Generated by `{command}`; do not edit by hand.",
        "",
        f"Params are counted with {num_classes} classes; GFLOPs are for one 3x{h}x{w} image "
        "(FLOPs = 2 x multiply-accumulates of convolutions and matrix products, as counted by "
        "`torch.utils.flop_counter`; element-wise ops excluded). Paper columns are the "
        "numbers the paper reports, under the conditions and counting convention in the note "
        "(often another input size or class count; some papers count multiply-adds), so they "
        "compare only roughly.",
        "",
        "| model | params (M) | paper params (M) | GFLOPs | paper GFLOPs | paper note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r.name}` | {r.params / 1e6:.2f} | {_fmt(r.paper_params, 1e6, 2)} | "
            f"{r.gflops:.1f} | {_fmt(r.paper_gflops, 1, 2)} | {r.note or '-'} |"
        )
    lines += ["", *(overfit or []), "## What differs from each paper", ""]
    families: dict[str, list[Row]] = {}
    for r in rows:
        families.setdefault(r.module, []).append(r)
    for module, members in families.items():
        names = ", ".join(f"`{r.name}`" for r in members)
        doc = inspect.cleandoc(importlib.import_module(module).__doc__ or "(no docstring)")
        cites = [f"- `{r.name}`: {r.paper or 'no paper'}" for r in members]
        lines += [f"### {names}", "", *cites, "", doc.split("\nExample")[0].rstrip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure every registered model and write the Markdown page."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/models.md", help="output Markdown file")
    p.add_argument("--num-classes", type=int, default=11)
    p.add_argument("--size", type=int, nargs=2, default=(360, 480), metavar=("H", "W"))
    p.add_argument("--pattern", default="*", help="only models matching this pattern")
    p.add_argument("--overfit-logs", type=Path, metavar="DIR",
                   help="pytest --basetemp of a run of the slow overfit test")
    args = p.parse_args(argv)
    size = tuple(args.size)
    rows = []
    for name in list_models(args.pattern):
        rows.append(measure(name, args.num_classes, size))
        print(f"{name}: {rows[-1].params / 1e6:.2f}M params, {rows[-1].gflops:.1f} GFLOPs",
              file=sys.stderr)
    overfit = None
    if args.overfit_logs:
        found = {r.name: read_overfit(args.overfit_logs, r.name) for r in rows}
        overfit = render_overfit([o for o in found.values() if o],
                                 [n for n, o in found.items() if o is None])
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(render(rows, args.num_classes, size, overfit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
