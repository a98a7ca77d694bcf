"""Measure the survey's "other approaches" on CamVid (train -> val) and write the report.

Run from the repository root (resumable: a stage whose JSON exists is skipped):

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/other_approaches.py runs/other \
        --doc docs/other_approaches.md

Every stage is a ``semseg`` command run in-process; its command line is stored next to its result
and printed in the report. ``--budget X`` multiplies every training budget (forest images and
pixels, CNN training steps) for a bigger machine; ``--sections`` picks forest and/or points.
``--render-only`` rewrites the report from the JSON already in RUNS. The fixed prose of the
report is in other_approaches.template.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

CAMVID = "../shared/data/camvid"
RUN_MISSING = True  # --render-only sets False: a stage without results raises NotRun


NOT_RUN: list[str] = []  # rows skipped by --render-only
LOADS: list[float | None] = []  # load averages recorded by the stages reported


class NotRun(Exception):
    """A stage has no results and --render-only forbids running it."""


def _check_may_run(path: Path) -> None:
    if not RUN_MISSING:
        raise NotRun(str(path))
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
        meta = json.loads(done.read_text())
        LOADS.append(meta.get("load_avg_1min"))
        return {**json.loads(result.read_text()), **meta}
    _check_may_run(result)
    full = argv + (["--json", str(result)] if json_flag else [])
    print("+ semseg " + " ".join(full), flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    code = semseg_main(full)
    if code != 0:
        raise SystemExit(f"stage failed ({code}): semseg {' '.join(full)}")
    meta = {"command": "semseg " + " ".join(full), "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu, "load_avg_1min": os.getloadavg()[0]}
    _write_json(done, meta)
    return {**json.loads(result.read_text()), **meta}


def forest_budget(scale: float) -> dict[str, int]:
    """Forest training knobs at budget ``scale`` (1.0: what fits today's CPU minutes)."""
    return {"trees": 3, "images": round(40 * scale), "pixels-per-image": round(1500 * scale),
            "max-depth": 14, "seed": 0}


def _time_frames(predict, frames: list, threads: int) -> dict[str, float]:
    """Median wall and process-CPU ms per frame (CPU time is what a busy shared machine does not
    distort at 1 thread; at 2 threads it sums both threads)."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    predict(frames[0])  # warm-up (loads lazily built parts)
    wall, cpu = [], []
    for f in frames:
        start, c = time.perf_counter(), time.process_time()
        predict(f)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    return {"wall_ms": 1000 * statistics.median(wall), "cpu_ms": 1000 * statistics.median(cpu)}


def timing_stage(out: Path, model: str, data: str) -> dict:
    """Median ms per 360x480 val frame at 1 and 2 threads for a forest file or a CNN name."""
    if out.is_file():
        return json.loads(out.read_text())
    _check_may_run(out)
    from semseg.metrics.mask_scores import split_dataset

    ds = split_dataset(data, "camvid", "val")
    frames = [ds.load(i)[0] for i in range(TIMING_FRAMES)]
    if model.endswith(".npz"):
        from semseg.forest import Forest

        forest = Forest.load(model)
        predict = forest.predict
    else:
        from semseg.inference.segmenter import Segmenter

        seg = Segmenter.from_pretrained(model)
        predict = seg.predict
    result = {"threads_1": _time_frames(predict, frames, 1),
              "threads_2": _time_frames(predict, frames, 2), "frames": len(frames)}
    _write_json(out, result)
    return result


FOREST_ROWS = ("pixel-pair", "learned", "cnn-head", "cnn")


def forest_section(runs: Path, data: str, scale: float, names: list[str]) -> list[dict]:
    """Train and score the forests and the CNN's own head (``cnn``) named; returns table rows."""
    budget = forest_budget(scale)
    rows = []
    for kind in [n for n in FOREST_ROWS[:3] if n in names]:
        folder = runs / "forest" / kind
        model = folder / "forest.npz"
        train_argv = ["forest", "train", "--kind", kind, "--data", data, "-o", str(model)] + [
            v for k, val in budget.items() for v in (f"--{k}", str(val))]
        train = command_stage(folder / "train.cmd.json", train_argv)
        for smooth in (0, SMOOTH_ITERS) if kind != "cnn-head" else (0,):
            try:  # under --render-only a missing smoothing row or timing leaves the rest
                ev = run_stage(folder / f"eval_smooth{smooth}.json",
                               ["forest", "eval", str(model), "--data", data, "--split", "val",
                                "--smooth", str(smooth)])
                timing = None if smooth else timing_stage(folder / "timing.json", str(model),
                                                          data)
            except NotRun as missing:
                if not smooth and "timing" not in str(missing):
                    raise
                print(f"not run: {missing}")
                NOT_RUN.append(f"{kind} {'timing' if not smooth else 'smoothing'}")
                if smooth:
                    continue
                timing = None
            rows.append({"name": kind + (f" + smoothing ({smooth} it.)" if smooth else ""),
                         "eval": ev, "train": train, "size_bytes": model.stat().st_size,
                         "timing": timing, "smoothed": bool(smooth)})
    if "cnn" not in names:
        return rows
    cnn = runs / "forest" / "cnn-linear"
    ev = run_stage(cnn / "eval.json", ["eval", "default", "--data", data, "--split", "val"])
    from semseg.hub.pretrained import resolve_weights

    rows.append({"name": "CNN (default LiteFPN, its own 1x1 head)", "eval": ev, "train": None,
                 "size_bytes": resolve_weights("default").stat().st_size,
                 "timing": timing_stage(cnn / "timing.json", "default", data)})
    return rows


def command_stage(done: Path, argv: list[str]) -> dict:
    """Run ``semseg ARGV`` unless DONE exists; DONE records the command, wall and CPU time."""
    from semseg.cli import main as semseg_main

    if done.is_file():
        meta = json.loads(done.read_text())
        LOADS.append(meta.get("load_avg_1min"))
        return meta
    _check_may_run(done)
    lock = done.with_suffix(".lock")
    done.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.open("x").close()  # another process running this stage skips it
    except FileExistsError:
        raise NotRun(f"{done}: running in another process ({lock})") from None
    if argv[0] == "train" and (Path(argv[argv.index("-o") + 1]) / "last.pt").is_file():
        argv = [*argv, "--resume"]  # an interrupted run continues exactly (semseg.training.train)
    print("+ semseg " + " ".join(argv), flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    if semseg_main(argv) != 0:
        raise SystemExit(f"stage failed: semseg {' '.join(argv)}")
    meta = {"command": "semseg " + " ".join(argv), "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu, "load_avg_1min": os.getloadavg()[0]}
    _write_json(done, meta)
    lock.unlink()
    return meta


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def render_forest(rows: list[dict]) -> list[str]:
    lines = ["| model | val mIoU | pixel acc | boundary F (2 px) | CPU ms/frame 1 thread (wall) | "
             "wall ms/frame 2 threads | model size | training time |", "|" + "---|" * 8]
    for r in rows:
        ev, t, tr = r["eval"], r["timing"], r["train"]
        ms1 = (f"{t['threads_1']['cpu_ms']:.0f} ({t['threads_1']['wall_ms']:.0f})" if t
               else "as above + smoothing" if r.get("smoothed") else "not measured")
        ms2 = f"{t['threads_2']['wall_ms']:.0f}" if t else ""
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


POINT_ROWS = {  # name -> (label, extra `semseg train` flags, clicks protocol or None)
    "full": ("full masks (dense cross-entropy)", [], None),
    "bearman-1pt": ("Bearman loss, 1 point per class",
                    ["--supervision", "points", "--point-loss", "bearman"], "1-per-class"),
    "bearman-all": ("Bearman loss, all instances (1 point per region)",
                    ["--supervision", "points", "--point-loss", "bearman"], "all-instances"),
    "pcam": ("PCAMs (point CAMs -> affinity random walk -> network on pseudo-labels)",
             ["--supervision", "points", "--point-loss", "pcam"], "1-per-class"),
}
TRAIN_IMAGES = 100  # the first N CamVid train images, the same for every row


def train_recipe(data: str, scale: float) -> list[str]:
    """The one `semseg train` recipe every supervision row shares (LiteFPN, ImageNet encoder).

    Crops are taken at full resolution (scale 1) so that single-pixel clicks survive."""
    epochs = max(1, round(3 * scale))
    return ["train", "--data", data, "--arch", "litefpn", "--limit-train", str(TRAIN_IMAGES),
            "--limit-val", "1", "--epochs", str(epochs), "--val-every", str(epochs),
            "--batch-size", "8", "--crop-size", "176x240", "--scale-range", "1,1",
            "--warmup-epochs", "0.3", "--workers", "0", "--threads", "1", "--seed", "0"]


def clicks_stage(runs: Path, data: str, protocol: str) -> Path:
    folder = runs / "points" / f"clicks-{protocol}"
    command_stage(folder / "simulate.cmd.json", ["points", "simulate", "--data", data,
                                                 "--protocol", protocol, "-o", str(folder)])
    return folder


def points_row(name: str, runs: Path, data: str, scale: float) -> dict:
    """Train (and for PCAMs: stage 1, pseudo-labels, stage 3) and evaluate one row."""
    label, flags, protocol = POINT_ROWS[name]
    recipe = train_recipe(data, scale)
    clicks = clicks_stage(runs, data, protocol) if protocol else None
    run = runs / "points" / name
    click_flags = ["--clicks", str(clicks)] if clicks else []
    train = command_stage(run / "train.cmd.json", recipe + flags + click_flags + ["-o", str(run)])
    row = {"name": label, "train": [train], "clicks": clicks}
    if name == "pcam":
        pseudo = runs / "points" / "pcam-pseudo"
        row["pseudo"] = run_stage(pseudo.with_suffix(".json"), [
            "points", "pseudo", str(run / "best.pt"), "--data", data, "--clicks", str(clicks),
            "--limit", str(TRAIN_IMAGES), "--steps", "100", "--iters", "20", "--conf", "0.5",
            "-o", str(pseudo)])
        run = runs / "points" / "pcam-final"
        row["train"].append(command_stage(run / "train.cmd.json", [
            *recipe, "--train-masks", str(pseudo), "-o", str(run)]))
    row["eval"] = run_stage(run / "eval.json", ["eval", str(run / "best.pt"), "--data", data,
                                                "--split", "val"])
    return row


def _clicks_per_image(folder: Path | None, data: str) -> str:
    if folder is None:
        return "dense mask (every pixel)"
    from semseg.metrics.mask_scores import split_dataset

    stems = [s.image.stem for s in split_dataset(data, "camvid", "train").samples]
    counts = [len(json.loads((folder / f"{s}.json").read_text())["clicks"])
              for s in stems[:TRAIN_IMAGES]]
    return f"{statistics.mean(counts):.1f} clicks"


def render_points(rows: list[dict], data: str) -> list[str]:
    lines = ["| supervision | val mIoU | pixel acc | boundary F (2 px) | annotation per image | "
             "training CPU time |", "|" + "---|" * 6]
    for r in rows:
        ev = r["eval"]
        cpu = sum(t["cpu_s"] for t in r["train"]) + r.get("pseudo", {}).get("cpu_s", 0.0)
        lines.append(f"| {r['name']} | {_pct(ev['miou'])} | {_pct(ev['pixel_acc'])} | "
                     f"{_pct(ev.get('boundary_f'))} | {_clicks_per_image(r['clicks'], data)} | "
                     f"{cpu / 60:.1f} min |")
    pseudo = next((r["pseudo"] for r in rows if "pseudo" in r), None)
    if pseudo:
        lines += ["", f"PCAMs stage 2, pseudo-labels of the {pseudo['images']} training images "
                  f"against their true masks: mIoU {_pct(pseudo['miou'])}, pixel accuracy "
                  f"{_pct(pseudo['pixel_acc'])}, boundary F {_pct(pseudo.get('boundary_f'))} "
                  f"({100 * pseudo['confident_fraction']:.1f}% of CAM pixels were confident "
                  "seeds for the affinity network; stage-2 parameters: "
                  + ", ".join(f"{k} {v}" for k, v in pseudo["params"].items()) + ")."]
    lines += ["", "Commands:", ""]
    for r in rows:
        cmds = [t["command"] for t in r["train"]] + [r["eval"]["command"]]
        if "pseudo" in r:
            cmds.insert(1, r["pseudo"]["command"])
        lines += [f"    {c}" for c in cmds]
    return lines


def collect(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    sections = args.sections.split(",")
    if "forest" in sections:
        sections += FOREST_ROWS
    forest = []
    for name in FOREST_ROWS:
        if name in sections:
            try:
                forest += forest_section(args.runs, args.data, args.budget, [name])
            except NotRun as missing:
                print(f"not run: {name} ({missing})")
                NOT_RUN.append(name)
    points = []
    for name in POINT_ROWS:
        if name in sections:
            try:
                points.append(points_row(name, args.runs, args.data, args.budget))
            except NotRun as missing:
                print(f"not run: {name} ({missing})")
                NOT_RUN.append(name)
    return forest, points


TEMPLATE = Path(__file__).with_name("other_approaches.template.md")


def report_text() -> dict[str, str]:
    """The report's fixed sections (intro, forest, points) from TEMPLATE, by name."""
    parts = re.split(r"^<!-- section: (\w+) -->\n", TEMPLATE.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def render_doc(forest: list[str], points: list[str], args: argparse.Namespace) -> str:
    """The whole report."""
    budget = forest_budget(args.budget)
    command = ("PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/other_approaches.py "
               f"{args.runs} --doc {args.doc}" + (f" --budget {args.budget:g}"
                                                  if args.budget != 1 else ""))
    loads = [v for v in LOADS if v is not None]
    load = (f"1-minute load average {min(loads):.0f} to {max(loads):.0f} at the end of the "
            "stages that recorded it" if loads else "load not recorded")
    text = report_text()
    parts = [text["intro"].format(command=command, load=load, frames=TIMING_FRAMES,
                          budget=f"{args.budget:g}",
                          forest_budget=", ".join(f"{k} {v}" for k, v in budget.items()),
                          train_images=TRAIN_IMAGES)]
    if forest:
        parts += [text["forest"].format(smooth=SMOOTH_ITERS), "\n".join(forest), ""]
    if points:
        parts += [text["points"], "\n".join(points), ""]
    if NOT_RUN:
        parts += ["## Not measured in this budget", "",
                  "These rows had no results when the report was written (rerun the command "
                  "above to add them): " + ", ".join(NOT_RUN) + ".", ""]
    return "\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, help="folder for every run and result")
    p.add_argument("--data", default=CAMVID)
    p.add_argument("--doc", type=Path, help="write the Markdown report here")
    p.add_argument("--budget", type=float, default=1.0, help="training budget multiplier")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing; report the rows whose results exist")
    p.add_argument("--sections", default="forest," + ",".join(POINT_ROWS),
                   help="comma-separated: forest (= " + ", ".join(FOREST_ROWS) + ") and/or "
                   + ", ".join(POINT_ROWS))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global RUN_MISSING
    args = parse_args(argv)
    RUN_MISSING = not args.render_only
    NOT_RUN.clear()
    LOADS.clear()
    forest, points = collect(args)
    if args.doc:
        args.doc.write_text(render_doc(render_forest(forest) if forest else [],
                                       render_points(points, args.data) if points else [], args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
