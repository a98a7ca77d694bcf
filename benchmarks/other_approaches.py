"""Measure the survey's "other approaches" on CamVid (train -> val) and write the report.

Run from the repository root (resumable: a stage whose JSON exists is skipped):

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/other_approaches.py runs/other \
        --doc docs/other_approaches.md

Every stage is a ``semseg`` command run in-process; its command line is stored next to its result
and printed in the report. ``--budget X`` multiplies every training budget (forest images and
pixels, CNN training steps) for a bigger machine; ``--sections`` picks forest and/or points.
``--render-only`` rewrites the report from the JSON already in RUNS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

CAMVID = "../shared/data/camvid"
SMOOTH_ITERS = 5
TIMING_FRAMES = 10


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def run_stage(result: Path, argv: list[str], *, json_flag: bool = True) -> dict:
    """Run ``semseg ARGV`` (adding ``--json RESULT``) unless RESULT exists; returns its JSON with
    the command and wall time."""
    from semseg.cli import main as semseg_main

    done = result.with_suffix(".cmd.json")
    if result.is_file() and done.is_file():
        return {**json.loads(result.read_text()), **json.loads(done.read_text())}
    full = argv + (["--json", str(result)] if json_flag else [])
    print("+ semseg " + " ".join(full), flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    code = semseg_main(full)
    if code != 0:
        raise SystemExit(f"stage failed ({code}): semseg {' '.join(full)}")
    meta = {"command": "semseg " + " ".join(full), "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu}
    _write_json(done, meta)
    return {**json.loads(result.read_text()), **meta}


def forest_budget(scale: float) -> dict[str, int]:
    """Forest training knobs at budget ``scale`` (1.0: what fits today's CPU minutes)."""
    return {"trees": 3, "images": round(40 * scale), "pixels-per-image": round(1500 * scale),
            "max-depth": 14, "seed": 0}


def _time_frames(predict, frames: list, threads: int) -> float:
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    predict(frames[0])  # warm-up (loads lazily built parts)
    times = []
    for f in frames:
        start = time.perf_counter()
        predict(f)
        times.append(time.perf_counter() - start)
    torch.set_num_threads(1)
    return 1000 * statistics.median(times)


def timing_stage(out: Path, model: str, data: str) -> dict:
    """Median ms per 360x480 val frame at 1 and 2 threads for a forest file or a CNN name."""
    if out.is_file():
        return json.loads(out.read_text())
    from semseg.mask_scores import split_dataset

    ds = split_dataset(data, "camvid", "val")
    frames = [ds.load(i)[0] for i in range(TIMING_FRAMES)]
    if model.endswith(".npz"):
        from semseg.forest import Forest

        forest = Forest.load(model)
        predict = forest.predict
    else:
        from semseg.inference import Segmenter

        seg = Segmenter.from_pretrained(model)
        predict = seg.predict
    result = {"ms_1_thread": _time_frames(predict, frames, 1),
              "ms_2_threads": _time_frames(predict, frames, 2), "frames": len(frames)}
    _write_json(out, result)
    return result


def forest_section(runs: Path, data: str, scale: float) -> list[dict]:
    """Train and score the three forests and the CNN's own head; returns table rows."""
    budget = forest_budget(scale)
    rows = []
    for kind in ("pixel-pair", "learned", "cnn-head"):
        folder = runs / "forest" / kind
        model = folder / "forest.npz"
        train_argv = ["forest", "train", "--kind", kind, "--data", data, "-o", str(model)] + [
            v for k, val in budget.items() for v in (f"--{k}", str(val))]
        if not model.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _train_forest(folder, train_argv)
        train = json.loads((folder / "train.cmd.json").read_text())
        for smooth in (0, SMOOTH_ITERS) if kind != "cnn-head" else (0,):
            ev = run_stage(folder / f"eval_smooth{smooth}.json",
                           ["forest", "eval", str(model), "--data", data, "--split", "val",
                            "--smooth", str(smooth)])
            rows.append({"name": kind + (f" + smoothing ({smooth} it.)" if smooth else ""),
                         "eval": ev, "train": train, "size_bytes": model.stat().st_size,
                         "timing": timing_stage(folder / "timing.json", str(model), data)
                         if not smooth else None})
    cnn = runs / "forest" / "cnn-linear"
    ev = run_stage(cnn / "eval.json", ["eval", "default", "--data", data, "--split", "val"])
    from semseg.hub import resolve_weights

    rows.append({"name": "CNN (default LiteFPN, its own 1x1 head)", "eval": ev, "train": None,
                 "size_bytes": resolve_weights("default").stat().st_size,
                 "timing": timing_stage(cnn / "timing.json", "default", data)})
    return rows


def _train_forest(folder: Path, argv: list[str]) -> None:
    from semseg.cli import main as semseg_main

    print("+ semseg " + " ".join(argv), flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    if semseg_main(argv) != 0:
        raise SystemExit(f"stage failed: semseg {' '.join(argv)}")
    _write_json(folder / "train.cmd.json", {"command": "semseg " + " ".join(argv),
                                           "wall_s": time.perf_counter() - start,
                                           "cpu_s": time.process_time() - cpu})


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def render_forest(rows: list[dict]) -> list[str]:
    lines = ["| model | val mIoU | pixel acc | boundary F (2 px) | ms/frame 1 thread | "
             "ms/frame 2 threads | model size | training time |", "|" + "---|" * 8]
    for r in rows:
        ev, t, tr = r["eval"], r["timing"], r["train"]
        ms1 = f"{t['ms_1_thread']:.0f}" if t else "as above + smoothing"
        ms2 = f"{t['ms_2_threads']:.0f}" if t else ""
        train = (f"{tr['cpu_s'] / 60:.1f} CPU min ({tr['wall_s'] / 60:.1f} min wall)" if tr
                 else "shipped (see model card)")
        lines.append(f"| {r['name']} | {_pct(ev['miou'])} | {_pct(ev['pixel_acc'])} | "
                     f"{_pct(ev.get('boundary_f'))} | {ms1} | {ms2} | "
                     f"{r['size_bytes'] / 1e6:.2f} MB | {train} |")
    lines.append("")
    lines.append("Commands:")
    lines.append("")
    seen = set()
    for r in rows:
        for cmd in ((r["train"] or {}).get("command"), r["eval"].get("command")):
            if cmd and cmd not in seen:
                seen.add(cmd)
                lines.append(f"    {cmd}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, help="folder for every run and result")
    p.add_argument("--data", default=CAMVID)
    p.add_argument("--doc", type=Path, help="write the Markdown report here")
    p.add_argument("--budget", type=float, default=1.0, help="training budget multiplier")
    p.add_argument("--sections", default="forest,points")
    p.add_argument("--render-only", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = args.sections.split(",")
    rows = forest_section(args.runs, args.data, args.budget) if "forest" in sections else []
    if args.doc:
        args.doc.write_text("\n".join(render_forest(rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
