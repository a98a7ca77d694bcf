"""Release a train+val run as the packaged `default` model and write its model card.

The CamVid protocol (issue 13): the recipe is chosen on val with runs trained on train only; the
release is the same recipe trained on train + val for the same fixed number of epochs, so its
own val scores measure nothing. The card therefore reports the train-only model on val.

Usage (from the repository root; every number in the card comes from these commands):

    python benchmarks/release_default.py \\
        --release RUNS/espnetv2-release-stage2/last.pt \\
        --offsets RUNS/class_bias_stage2_best.json \\
        --train-only checkpoints/espnetv2-city-camvid-train-stage2-offsets.safetensors \\
        --runs RUNS/espnetv2-city-train RUNS/espnetv2-stage2 \\
        --release-runs RUNS/espnetv2-release RUNS/espnetv2-release-stage2

Steps:
1. the class offsets of ``--offsets`` (``benchmarks/class_bias.py``: fitted on val with the
   train-only model) are folded into the release's classifier bias, and the result is written to
   ``src/semseg/weights/camvid_default.safetensors`` (fp16);
2. ``semseg eval`` of the train-only model (offsets folded the same way) and of the release on
   CamVid val (the latter only to pin the file: val is in its training data);
3. ``semseg bench`` of the released file at the padded 384x480 network input (2 threads, torch
   and ONNX Runtime) and ``benchmarks/latency.py --end-to-end`` (360x480 frame in, mask out);
4. ``MODEL_CARD.md`` beside the weights from the runs' config.json and log.jsonl and the reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "semseg" / "weights" / "camvid_default.safetensors"
CARD = WEIGHTS.with_name("MODEL_CARD.md")
SEMSEG = [str(Path(sys.executable).parent / "semseg")]
EVAL_KEYS = ("miou", "pixel_acc", "mean_acc", "class_iou", "boundary_f")


def _run_json(cmd: list[str], out: Path) -> dict:
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def _eval(model: str, data: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        return _run_json([*SEMSEG, "eval", model, "--data", data, "--split", "val", "--threads",
                          "2", "--json", str(out)], out)


def _bench(size: tuple[int, int], weights: Path = WEIGHTS) -> dict:
    cmd = [*SEMSEG, "bench", str(weights), "--size", f"{size[0]}x{size[1]}", "--threads", "2",
           "--runtime", "both", "--json"]
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.stdout)


def _end_to_end(weights: Path = WEIGHTS) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "e2e.json"
        report = _run_json([sys.executable, "benchmarks/latency.py", str(weights),
                            "--end-to-end", "--threads", "2", "--runtime", "both", "--warmup",
                            "5", "--iters", "30", "--json", str(out)], out)
    return report["rows"]


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}"


def _run_facts(run: Path) -> dict:
    """Config, per-epoch records and wall hours of one training run folder."""
    from semseg.training.log import read_log

    config = json.loads((run / "config.json").read_text())
    records = {r["epoch"]: r for r in read_log(run / "log.jsonl")}  # a resume replaces a try
    seconds = sum(r.get("seconds", 0.0) for r in records.values())
    return {"config": config, "records": records, "hours": seconds / 3600, "name": run.name}


def _recipe(f: dict) -> str:
    c = f["config"]
    crop = c["crop_size"]
    epochs = f"{c['epochs']} epochs" if not c.get("stop_epoch") else (
        f"a {c['epochs']}-epoch schedule stopped after epoch {c['stop_epoch']}")
    return (f"`{c['arch']}` {json.dumps(c['arch_kwargs'])}, init `{c.get('init')}`, "
            f"{c.get('train_split', 'train')} split, {epochs}, batch "
            f"{c['batch_size']}, crops {crop[0]}x{crop[1]} at scale {c['scale_range'][0]}-"
            f"{c['scale_range'][1]}, flip, colour jitter {c['color_jitter']}; {c['optimizer']} "
            f"lr {c['lr']}, weight decay {c['weight_decay']}, {c['warmup_epochs']} warm-up "
            f"epoch(s) then poly {c['poly_power']}; loss `{c.get('loss', 'ce')}`, "
            f"{c['class_weighting']} class weights{_teacher(c)}; {c['threads']} thread(s); "
            f"{f['hours']:.2f} h wall")


def _teacher(c: dict) -> str:
    if not c.get("teacher"):
        return ""
    return (f"; distilled from teacher `{c['teacher']}` (weight {c['distill_weight']}, "
            f"temperature {c['distill_temperature']})")


def _val_curve(f: dict) -> str:
    pts = [f"{100 * r['miou']:.2f} ({e})" for e, r in sorted(f["records"].items())
           if r.get("miou") is not None]
    return ", ".join(pts) or "not validated"


def card_tables(a: dict) -> tuple[str, str, str]:
    """Markdown rows of the per-class, network-latency and end-to-end tables of a card."""
    train_only, bench, offsets = a["train_only"], a["bench"], a["offsets"]
    rows = "\n".join(
        f"| {c} | {_fmt(offsets['plain_iou'].get(c, 0) / 100)} | {_fmt(train_only['class_iou'][c])}"
        f" | {offsets['offsets'][i]:+.2f} |" for i, c in enumerate(train_only["class_iou"]))
    net_rows = "\n".join(
        f"| {r['runtime']} | {bench['input_size'][0]}x{bench['input_size'][1]} | "
        f"{r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['mean_ms']:.1f} | "
        f"{r['load_average_before'][0]:.2f} |" for r in bench["runtimes"].values())
    e2e_rows = "\n".join(
        f"| {r['runtime']} | {r['threads']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
        f"{r['mean_ms']:.1f} | {r['load_min']:.2f}-{r['load_max']:.2f} |" for r in a["e2e"])
    return rows, net_rows, e2e_rows


def _card(a: dict) -> str:
    train_only, ev_release, bench = a["train_only"], a["release_eval"], a["bench"]
    offsets, runs, release_runs = a["offsets"], a["runs"], a["release_runs"]
    classes = list(train_only["class_iou"])
    rows, net_rows, e2e_rows = card_tables(a)
    stages = "\n".join(f"  {i + 1}. {_recipe(f)}; val mIoU by epoch: {_val_curve(f)}."
                       for i, f in enumerate(runs))
    scored = a["train_only_epoch"]
    release_stages = "\n".join(f"  {i + 1}. {_recipe(f)}." for i, f in enumerate(release_runs))
    hours = sum(f["hours"] for f in runs + release_runs)
    return f"""# Model card: `default` (CamVid, ESPNetv2 from Cityscapes)

Generated by `python benchmarks/release_default.py` (the command is in its docstring); do not
edit by hand.

## What it is
- Architecture: `espnetv2` (Mehta et al., ESPNetv2, CVPR 2019), width s=2.0, with the
  Cityscapes model's decoder widths (`proj_width` 10). The whole network starts from the public
  Cityscapes ESPNetv2 (`espnetv2-cityscapes`, EdgeNets model zoo); its 20-class classifier is
  re-indexed onto CamVid's classes through `semseg.data.label_maps`.
- Parameters: {bench['params']:,}; {bench['gflops']:.2f} GFLOPs on a 360x480 frame (the network
  runs on it padded to {bench['input_size'][0]}x{bench['input_size'][1]}; FLOPs = 2 x MACs).
- Classes (11, CamVid SegNet layout): {', '.join(classes)}; void is ignored.
- Input: RGB, ImageNet mean/std, any size (padded to a multiple of 32, no resize), so the
  mask is at the input resolution.
- Weights: `camvid_default.safetensors`, fp16, {WEIGHTS.stat().st_size / 1e6:.1f} MB. Per-class
  logit offsets (below) are folded into the bias of the last convolution
  (`{a['layer']}`).

## Protocol
The recipe was chosen on CamVid val with models trained on the **train** split only (367
frames); the released weights are the same recipe trained on **train + val** (468 frames) for
the same fixed number of epochs (the train-only stage 2's best validation epoch, {scored}), final
epoch kept. The CamVid test split was never used.

Train-only runs (the model scored below is stage 2 at epoch {scored}):
{stages}

(Validation by epoch is the training loop's. The train-only runs predate the evaluation loop
that training and `semseg eval` now share, and their logged scores are about 0.5 below what
`semseg eval` gives for the same weights.)

Release runs (train + val):
{release_stages}

Class offsets: {json.dumps(offsets['offsets'])} (added to the logits of
{', '.join(classes)}), fitted by coordinate ascent on val mIoU with the train-only model
(`benchmarks/class_bias.py`). Fitted on even val frames and scored on odd ones and the other
way round, the train-only model goes from {offsets['miou_plain']:.2f} to
**{offsets['miou_2fold']:.2f}** mIoU on frames the offsets never saw.

Total training wall time of the four runs: {hours:.1f} h on {os.cpu_count()} CPU cores
({platform.machine()}, no GPU; 1 thread each, the machine shared with other jobs).

## Evaluation (CamVid val, 101 frames, full 360x480 resolution, no test-time augmentation)
Train-only model with the offsets folded in:
`semseg eval {a['train_only_path']} --data {a['data']} --split val`

- mIoU **{_fmt(train_only['miou'])}** (offsets fitted on these frames; the 2-fold held-out
  figure above is {offsets['miou_2fold']:.2f}), pixel accuracy {_fmt(train_only['pixel_acc'])},
  mean class accuracy {_fmt(train_only['mean_acc'])}, boundary F (2 px)
  {_fmt(train_only.get('boundary_f'))}.

| class | IoU without offsets | IoU with offsets | offset |
| --- | --- | --- | --- |
{rows}

The released model on val scores {_fmt(ev_release['miou'])} mIoU (`semseg eval default ...`);
val is in its training data, so this only identifies the file.

## CPU latency (batch 1, 2 threads)
End to end, a 360x480 frame in memory to a 360x480 mask (`Segmenter.predict`: normalize, pad,
network, crop, argmax; under ONNX Runtime all of it is one graph, `semseg.export.pipeline`),
`python benchmarks/latency.py default --end-to-end --threads 2 --runtime both`:

| runtime | threads | p50 ms | p90 ms | mean ms | load average (1 min) |
| --- | --- | --- | --- | --- | --- |
{e2e_rows}

The network alone (`semseg bench default --size {bench['input_size'][0]}x{bench['input_size'][1]}
--threads 2 --runtime both`):

| runtime | input | p50 ms | p90 ms | mean ms | load average (1 min) |
| --- | --- | --- | --- | --- | --- |
{net_rows}

Measured on the development machine ({platform.processor() or platform.machine()},
{os.cpu_count()} cores). This model is not a 30 ms model on 2 CPU cores; for speed use
`camvid-litefpn` (the previous default: 68.0 val mIoU, 240x320 network input, see
`MODEL_CARD_camvid_litefpn.md`).

## Limits
- Trained on 468 Cambridge street frames (UK, daytime) after Cityscapes (German cities):
  expect degradation on other cities, night, rain, or non-street scenes. Thin classes (pole,
  sign) remain the weakest. Not a safety-rated perception component.
- License of the data: CamVid is for research use (Brostow et al. 2009); the Cityscapes
  initialisation comes from the EdgeNets release (MIT).
"""


def release_parser(description: str) -> argparse.ArgumentParser:
    """The options every release script takes (the two-run protocol)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--release", type=Path, required=True, help="the train+val checkpoint")
    ap.add_argument("--offsets", type=Path, required=True, help="class_bias.py --json output")
    ap.add_argument("--train-only", required=True, help="train-only checkpoint, offsets folded")
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="train-only run folders")
    ap.add_argument("--release-runs", type=Path, nargs="+", required=True)
    ap.add_argument("--data", default="../shared/data/camvid")
    return ap


def fold_and_score(args: argparse.Namespace, weights: Path) -> dict:
    """Fold the offsets fitted with the train-only model into the release, write it to
    ``weights`` (fp16, with the scores in its header), and score both on val."""
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from semseg.hub.checkpoint import load_model, save_release
    from semseg.training.offsets import fold_offsets

    fit = json.loads(args.offsets.read_text())
    offsets = fit["offsets_whole_split"]
    model, spec, _ = load_model(args.release)
    layer = fold_offsets(model, torch.tensor(offsets), in_channels=spec.in_channels)
    save_release(weights, model, spec, metrics={"class_offsets": offsets})
    train_only = _eval(args.train_only, args.data)
    release_eval = _eval(str(weights), args.data)
    save_release(weights, model, spec, metrics={
        "class_offsets": offsets,
        "train_only_val": {k: train_only[k] for k in EVAL_KEYS if k in train_only},
        "train_only_val_2fold_miou": fit["miou_offsets_2fold"] / 100,
        "release_val_in_training": {k: release_eval[k] for k in EVAL_KEYS if k in release_eval}})
    return {"spec": spec, "layer": layer, "train_only": train_only, "release_eval": release_eval,
            "data": args.data, "train_only_path": args.train_only,
            "offsets": {"offsets": offsets, "miou_plain": fit["miou_plain"],
                        "miou_2fold": fit["miou_offsets_2fold"],
                        "plain_iou": fit["class_iou_plain"]},
            "model_path": fit["model"],
            "runs": [_run_facts(r) for r in args.runs],
            "release_runs": [_run_facts(r) for r in args.release_runs]}


def main() -> None:
    args = release_parser(__doc__.splitlines()[0]).parse_args()
    facts = fold_and_score(args, WEIGHTS)
    from semseg.hub.checkpoint import load_checkpoint

    facts.update(bench=_bench((384, 480)), e2e=_end_to_end(),
                 train_only_epoch=load_checkpoint(facts["model_path"])["epoch"])
    CARD.write_text(_card(facts))
    print(f"wrote {WEIGHTS} and {CARD}")


if __name__ == "__main__":
    main()
