"""CPU latency of SalsaNext on one 64 x 2048 range image, eager PyTorch and ONNX Runtime.

Run from the repository root (docs/lidar.md and docs/benchmarks.md quote its output):

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/lidar_latency.py --threads 1

The model is randomly initialised (latency does not depend on the weights): 5 input channels,
19 SemanticKITTI classes. Timing uses ``semseg.tools.benchmark`` (the code behind ``semseg bench``):
median (p50) and p90 of single-scan forward passes after warm-up; the ONNX model is exported
at the fixed 64 x 2048 size. The host's load average is printed with each runtime: on a shared
machine with more runnable processes than cores the numbers are inflated.
"""

from __future__ import annotations

import argparse
import json

import torch

from semseg.cli.args import parse_size
from semseg.data.semantickitti import INFO
from semseg.hub.checkpoint import ModelSpec
from semseg.tools.benchmark import LoadedModel, benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", default="64x2048", help="range image HxW")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args()
    h, w = parse_size(args.size)
    torch.manual_seed(0)
    spec = ModelSpec(arch="salsanext", info=INFO, in_channels=len(INFO.mean), input_size=(h, w))
    loaded = LoadedModel(spec.build().eval(), spec, "architecture", "salsanext")
    report = benchmark(loaded, size=(h, w), threads=args.threads, warmup=args.warmup,
                       iters=args.iters, runtimes=("torch", "onnxruntime"))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(f"salsanext: {report.params:,} parameters, {report.gflops:.1f} GFLOPs "
          f"(2 x MACs) per 5x{h}x{w} range image; torch {torch.__version__}")
    for r in report.runtimes.values():
        print(f"{r.runtime:<12} p50 {r.p50_ms / 1000:.2f} s  p90 {r.p90_ms / 1000:.2f} s  "
              f"({r.threads} thread(s), {report.iters} runs after {report.warmup} warm-up; "
              f"load average {r.load_average_before[0]:.2f} -> {r.load_average_after[0]:.2f} "
              f"on {report.environment['cpu_count']} cores)")


if __name__ == "__main__":
    main()
