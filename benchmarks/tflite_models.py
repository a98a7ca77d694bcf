"""Model cards' measured numbers for the pretrained models converted from TensorFlow Lite.

    SEMSEG_WEIGHTS_MIRROR=../shared/weights OMP_NUM_THREADS=1 PYTHONPATH=src \\
        python benchmarks/tflite_models.py --doc docs/pretrained.md

For each converted model: agreement of semseg's float32 argmax with the reference int8
interpreter (``ai-edge-litert``) on real photos (all pixels, and pixels where the int8 top-2
margin is at least 1 logit), mean |logit difference| in quantization steps of the int8 logits,
and forward latency at the native input (random input, median of ``--iters``) for eager PyTorch,
ONNX Runtime (the converted model exported by ``semseg.export.onnx``) and the int8 interpreter.
Writes ``OUT/tflite_models.json`` and the table between the ``tflite-models`` markers of ``--doc``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semseg.fileio.tflite import read_tflite
from semseg.hub.pretrained import pretrained_entry, resolve_weights
from semseg.tools.benchmark import LoadedModel, benchmark
from semseg.tools.report import publish

BEGIN, END = "<!-- tflite-models: begin -->", "<!-- tflite-models: end -->"
MODELS = ("deeplabv3-mnv2-voc", "deeplabv3-mnv2-0.5-voc", "mosaic-ade20k",
          "deeplab-edgetpu-cityscapes")
CAMVID_FRAME = Path("../shared/data/camvid/val/0016E5_08099.png")
MARGIN = 1.0


def photos(size: int) -> dict[str, np.ndarray]:
    """scikit-image photos and a CamVid frame, resized (bilinear) to ``size`` x ``size``."""
    from skimage import data

    images = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee(),
              "motorcycle": data.stereo_motorcycle()[0]}
    if CAMVID_FRAME.is_file():
        images["camvid"] = np.asarray(Image.open(CAMVID_FRAME).convert("RGB"))
    return {k: np.asarray(Image.fromarray(v).resize((size, size), Image.BILINEAR))
            for k, v in images.items()}


def interpreter(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                     num_threads=threads)
    it.allocate_tensors()
    return it


def parity(name: str, model: torch.nn.Module, path: Path) -> dict[str, dict[str, float]]:
    """Per photo: argmax agreement (all, decided pixels) and mean |logit diff| / quant step."""
    graph = read_tflite(path)
    logits_id = next(op for op in graph.ops if op.kind == "ARG_MAX").inputs[0]
    t = graph.tensors[logits_id]
    it = interpreter(path, 1)
    out = {}
    for photo, image in photos(pretrained_entry(name).input_size[0]).items():
        it.set_tensor(graph.inputs[0], image[None])
        it.invoke()
        ref = t.scale[0] * (it.get_tensor(logits_id)[0].astype(np.float32) - t.zero_point[0])
        x = (torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() - 128.0) / 128.0
        with torch.inference_mode():
            ours = model(x)[0].permute(1, 2, 0).numpy()
        same = ours.argmax(-1) == it.get_tensor(graph.outputs[0])[0]
        top2 = np.sort(ref, axis=-1)[..., -2:]
        decided = top2[..., 1] - top2[..., 0] >= MARGIN
        out[photo] = {"agree": float(same.mean()), "agree_decided": float(same[decided].mean()),
                      "decided_share": float(decided.mean()),
                      "logit_err_steps": float(np.abs(ours - ref).mean() / t.scale[0])}
    return out


def interpreter_latency(path: Path, size: int, threads: int, iters: int) -> float:
    """Median seconds of the int8 interpreter on one uint8 image (after one warm-up run)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    image = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    times = []
    for i in range(iters + 1):
        start = time.perf_counter()
        it.set_tensor(index, image)
        it.invoke()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, threads: int, iters: int) -> dict:
    entry = pretrained_entry(name)
    path = resolve_weights(name)
    loaded = LoadedModel.load(name)
    report = benchmark(loaded, size=entry.input_size, threads=threads,
                       runtimes=("torch", "onnxruntime"), warmup=1, iters=iters)
    torch.set_num_threads(threads)
    return {
        "input_size": list(entry.input_size), "threads": threads, "iters": iters,
        "params": report.params, "gflops": report.gflops,
        "torch_ms": report.runtimes["torch"].p50_ms,
        "load_average": list(report.runtimes["torch"].load_average_before),
        "onnxruntime_ms": report.runtimes["onnxruntime"].p50_ms,
        "int8_interpreter_ms": 1000 * interpreter_latency(path, entry.input_size[0], threads,
                                                          iters),
        "parity": parity(name, loaded.model.eval(), path),
    }


def table(results: dict[str, dict]) -> str:
    head = ("model", "input", "params", "GFLOPs", "eager ms", "ORT ms", "int8 TFLite ms",
            "argmax agreement (all / int8-decided pixels), per photo", "logit error (steps)")
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * 5 + "---|---:|"]
    for name, r in results.items():
        agree = ", ".join(f"{p} {100 * v['agree']:.1f} / {100 * v['agree_decided']:.1f}"
                          for p, v in r["parity"].items())
        err = max(v["logit_err_steps"] for v in r["parity"].values())
        lines.append(f"| `{name}` | {r['input_size'][0]}x{r['input_size'][1]} | "
                     f"{r['params'] / 1e6:.2f}M | {r['gflops']:.1f} | {r['torch_ms']:.0f} | "
                     f"{r['onnxruntime_ms']:.0f} | {r['int8_interpreter_ms']:.0f} | {agree} | "
                     f"<= {err:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    p.add_argument("--doc", type=Path, help="Markdown file with the tflite-models markers")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = p.parse_args(argv)
    results = {name: measure(name, args.threads, args.iters) for name in args.models}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tflite_models.json").write_text(json.dumps(results, indent=1) + "\n")
    command = (f"python benchmarks/tflite_models.py --threads {args.threads} "
               f"--iters {args.iters}" + (f" --doc {args.doc}" if args.doc else ""))
    loads = sorted({r["load_average"][0] for r in results.values()})
    block = (f"Generated by `{command}` from `{args.out}/tflite_models.json`; do not edit by "
             f"hand. Latency: median of {args.iters} forwards at the native input, "
             f"{args.threads} thread(s), on a shared 2-core CPU whose 1-minute load average was "
             f"{loads[0]:.1f} to {loads[-1]:.1f} during the runs (so these are upper bounds)."
             "\n\n" + table(results) + "\n")
    publish(block, args.doc, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
