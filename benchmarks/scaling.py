"""The three tables of docs/scaling.md: DDP 1 vs 2 processes, Ray Data vs the local engine, and
temporal smoothing on CamVid val. Each subcommand measures, writes docs/scaling/<name>.json
and rewrites its table in docs/scaling.md (between ``<!-- NAME:begin -->`` and ``:end``).

Run from the repository root (each takes a few minutes on 2 cores):

    PYTHONPATH=src python benchmarks/scaling.py ddp
    PYTHONPATH=src python benchmarks/scaling.py ray
    PYTHONPATH=src python benchmarks/scaling.py temporal

The load average is recorded with every figure: this machine is shared, and on 2 cores two
processes (or Ray's reader plus actors) compete with each other and with everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CAMVID = REPO.parent / "shared" / "data" / "camvid"
DOC = REPO / "docs" / "scaling.md"
RESULTS = REPO / "docs" / "scaling"


def write_section(name: str, table: str, payload: dict) -> None:
    """Save the figures as JSON and replace the ``name`` table in docs/scaling.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = DOC.read_text()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{begin}\n{table}\n{end}{tail}")
    print(table)


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


# ---- DDP ---------------------------------------------------------------------------------------


def ddp_config(out: Path, epochs: int) -> dict:
    """CamVid at 180x240 crops, BN-free U-Net, no augmentation: 1 and N processes then compute
    the same training (up to float summation order), so the weights can be compared. SGD, not
    AdamW: Adam divides by the gradient's own scale, which turns rounding differences in this
    net's tiny deep-layer gradients into visible weight differences within a few steps."""
    from semseg.training.config import TrainConfig

    return TrainConfig(
        data=str(CAMVID), arch="unet", arch_kwargs={"base_width": 8, "batch_norm": False},
        pretrained_backbone=False, epochs=epochs, batch_size=8, crop_size=(180, 240),
        scale_range=(0.5, 0.5), hflip=False, color_jitter=0.0, class_weighting="none",
        limit_train=96, limit_val=20, optimizer="sgd", lr=0.05, workers=0, threads=1, device="cpu",
        out_dir=str(out)).to_dict()


def bench_ddp(args: argparse.Namespace) -> None:
    """Train the same 2 epochs in 1 and 2 gloo processes; images/s and weight agreement."""
    import torch

    from semseg.hub.checkpoint import load_checkpoint
    from semseg.training.log import read_log

    rows, runs = [], {}
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    for n in (1, 2):
        out = Path(args.work) / f"ddp{n}"
        cfg = Path(args.work) / f"ddp{n}.json"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(json.dumps(ddp_config(out, args.epochs)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(n), "-m", "semseg", "train", "--config", str(cfg)]
        load = _load()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        log = read_log(out / "log.jsonl")
        runs[n] = load_checkpoint(out / "last.pt")
        rows.append({"processes": n, "images_per_s": float(np.mean([r["images_per_s"]
                                                                      for r in log])),
                     "wall_s": wall, "val_miou": log[-1]["miou"], "load_before": load})
    a, b = runs[1]["state_dict"], runs[2]["state_dict"]
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    scale = max(float(a[k].float().abs().max()) for k in a)
    torch_version = torch.__version__
    lines = ["| processes | train images/s | wall s (incl. start-up, 2 epochs) | val mIoU % "
             "| load avg before |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['processes']} | {r['images_per_s']:.2f} | {r['wall_s']:.1f} | "
                     f"{100 * r['val_miou']:.2f} | {r['load_before']} |")
    lines.append(f"\nLargest weight difference between the 1- and 2-process runs after "
                 f"{args.epochs} epochs: {diff:.2e} (largest weight {scale:.2f}); torch "
                 f"{torch_version}, gloo, {os.cpu_count()} cores.")
    write_section("ddp", "\n".join(lines), {"rows": rows, "max_weight_diff": diff,
                                            "config": ddp_config(Path("OUT"), args.epochs)})


# ---- Ray ---------------------------------------------------------------------------------------


def _frames(n: int) -> list[Path]:
    return sorted((CAMVID / "val").iterdir())[:n]


def bench_ray(args: argparse.Namespace) -> None:
    """N CamVid val frames: the local engine, then Ray Data with 1 and 2 actors."""
    import ray
    import torch

    from semseg.inference.ray_predict import predict_with_ray
    from semseg.inference.segmenter import Segmenter

    files = _frames(args.frames)
    work = Path(args.work)
    torch.set_num_threads(1)
    rows = []
    seg = Segmenter.from_pretrained(args.model)
    load = _load()
    start = time.perf_counter()
    for i in range(0, len(files), 4):
        chunk = files[i:i + 4]
        for path, res in zip(chunk, seg.predict_batch(chunk), strict=True):
            res.save(work / "local", path.stem)
    seconds = time.perf_counter() - start
    rows.append({"engine": "local (1 process, 1 thread)", "images_per_s": len(files) / seconds,
                 "startup_s": 0.0, "load_before": load})
    for actors in (1, 2):
        load = _load()
        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
        startup = time.perf_counter() - t0
        try:
            report = predict_with_ray(args.model, files, work / f"ray{actors}", actors=actors)
        finally:
            ray.shutdown()
        same = all((work / f"ray{actors}" / f"{p.stem}_mask.png").read_bytes()
                   == (work / "local" / f"{p.stem}_mask.png").read_bytes() for p in files)
        rows.append({"engine": f"Ray Data, {actors} actor(s) x {report.cpus_per_actor:.2f} CPU",
                     "images_per_s": report.images_per_s, "startup_s": startup,
                     "same_masks": same, "load_before": load})
    lines = ["| engine | images/s | Ray start s | masks identical to local | load avg before |",
             "|---|---|---|---|---|"]
    for r in rows:
        same = {True: "yes", False: "NO"}.get(r.get("same_masks"), "-")
        lines.append(f"| {r['engine']} | {r['images_per_s']:.2f} | {r['startup_s']:.1f} | "
                     f"{same} | {r['load_before']} |")
    lines.append(f"\n{len(files)} CamVid val frames (360x480 PNG), model `{args.model}`, "
                 f"batch 4, outputs written (mask, colour, overlay); {os.cpu_count()} cores.")
    write_section("ray", "\n".join(lines), {"rows": rows, "frames": len(files),
                                            "model": args.model})


# ---- temporal ----------------------------------------------------------------------------------


def bench_temporal(args: argparse.Namespace) -> None:
    """CamVid val as a video: mIoU and flicker with and without smoothing, ms per frame."""
    import torch
    from PIL import Image

    from semseg.fileio.images import read_image
    from semseg.inference.segmenter import Segmenter
    from semseg.inference.temporal import TemporalSmoother, label_change_rate
    from semseg.metrics.confusion import ConfusionMatrix

    torch.set_num_threads(args.threads)
    seg = Segmenter.from_pretrained(args.model)
    methods = {"none": None, **{f"{m} a={a}": (m, a) for a in args.alphas for m in ("ema", "flow")}}
    smoothers = {k: TemporalSmoother(*v[:1], alpha=v[1]) if v else None
                 for k, v in methods.items()}
    cms = {k: ConfusionMatrix(11) for k in methods}
    masks: dict[str, list[np.ndarray]] = {k: [] for k in methods}
    spent = dict.fromkeys(methods, 0.0)
    frames, truths, model_s = [], [], 0.0
    load = _load()
    for path in sorted((CAMVID / "val").iterdir()):
        image = read_image(path)
        truth = np.asarray(Image.open(CAMVID / "valannot" / path.name)).astype(np.int64)
        truth[truth > 10] = 255  # void
        start = time.perf_counter()
        result = seg.predict(image)
        model_s += time.perf_counter() - start
        for k, smoother in smoothers.items():
            start = time.perf_counter()
            mask = result.mask if smoother is None else smoother(result).mask
            spent[k] += time.perf_counter() - start
            masks[k].append(mask.astype(np.uint8))
            cms[k].update(torch.from_numpy(mask), torch.from_numpy(truth))
        frames.append(image)
        truths.append(truth)
    n = len(frames)
    gt_rate = label_change_rate(truths, frames, ignore_index=255)
    rows = []
    for k in methods:
        scores = cms[k].compute()
        rows.append({"method": k, "miou": scores.miou, "pixel_acc": scores.pixel_acc,
                     "label_change_rate": label_change_rate(masks[k], frames),
                     "ms_per_frame": 1000 * spent[k] / n})
    lines = ["| smoothing | mIoU % | pixel acc % | labels changing per frame % | added ms/frame |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {100 * r['miou']:.2f} | {100 * r['pixel_acc']:.2f} | "
                     f"{100 * r['label_change_rate']:.2f} | {r['ms_per_frame']:.1f} |")
    lines.append(f"| ground truth | 100 | 100 | {100 * gt_rate:.2f} | - |")
    lines.append(f"\n{n} frames of CamVid val (sequence 0016E5, 15 frames/s, 360x480), model "
                 f"`{args.model}` at {1000 * model_s / n:.0f} ms/frame with {args.threads} "
                 f"thread(s); load average {load} before, {_load()} after, "
                 f"{os.cpu_count()} cores. Label changes are counted after warping frame t-1 "
                 "to frame t with DIS optical flow (void pixels left out for the ground truth).")
    write_section("temporal", "\n".join(lines), {"rows": rows, "ground_truth_rate": gt_rate,
                                                 "frames": n, "model": args.model})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ddp")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--work", default="/tmp/semseg-scaling")
    p = sub.add_parser("ray")
    p.add_argument("--frames", type=int, default=101)  # all of CamVid val
    p.add_argument("--model", default="default")
    p.add_argument("--work", default="/tmp/semseg-scaling")
    p = sub.add_parser("temporal")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.3])
    args = parser.parse_args(argv)
    {"ddp": bench_ddp, "ray": bench_ray, "temporal": bench_temporal}[args.what](args)


if __name__ == "__main__":
    main()
