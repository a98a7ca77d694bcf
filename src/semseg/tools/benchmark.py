"""Model cost and speed: parameters, GFLOPs, peak memory, latency (eager PyTorch, ONNX Runtime).

Example:
    >>> loaded = LoadedModel.load("enet")  # architecture (random init), checkpoint or pretrained
    >>> report = benchmark(loaded, size=(360, 480), threads=2, runtimes=("torch", "onnxruntime"))
    >>> report.runtimes["torch"].p50_ms, report.gflops

Definitions (also written into every report):
- GFLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on one image, which counts 2 FLOPs per
  multiply-accumulate of convolutions and matrix products (FLOPs = 2 x MACs) and nothing for
  element-wise ops (BN, activations, pooling, interpolation).
- Latency: wall time of one forward of a batch under ``torch.inference_mode`` after ``warmup``
  untimed runs; on CUDA the device is synchronized before reading the clock. The host load
  average (``os.getloadavg``) before and after the timed runs is part of every result, because
  on a shared machine it inflates the numbers.
- Peak memory: torch on CPU counts the model's parameters and buffers plus the peak bytes of
  tensors alive during one forward (a dispatch-level tracker; library scratch buffers are not
  tensors and are missed); CUDA uses ``torch.cuda.max_memory_allocated``; ONNX Runtime, whose
  arena torch cannot see, uses the growth of the process's resident-set high-water mark.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from semseg.device import resolve_device
from semseg.errors import ConfigError
from semseg.hub.checkpoint import ModelSpec
from semseg.tools.memory import RssPeak, forward_peak_bytes, state_bytes

RUNTIMES = ("torch", "onnxruntime")
FLOPS_NOTE = ("FLOPs = 2 x multiply-accumulates of convolutions and matrix products, as counted "
              "by torch.utils.flop_counter.FlopCounterMode on one image; element-wise ops are "
              "not counted")
MB = 1e6


@dataclass
class LoadedModel:
    """A model in eval mode with the spec that rebuilds it and where it came from."""

    model: nn.Module
    spec: ModelSpec
    source: str  # "architecture" (random init) | "checkpoint" | "pretrained"
    name: str  # what the user passed

    @classmethod
    def load(cls, name_or_path: str, **overrides: Any) -> LoadedModel:
        """``semseg.hub.loading.load`` with architecture names allowed (random init), remembering
        which source the name resolved to; ``overrides`` as there."""
        from semseg.hub import loading

        source = loading.resolve(name_or_path, allow_arch=True)
        model, spec = loading.load(name_or_path, allow_arch=True, **overrides)
        return cls(model, spec, source, str(name_or_path))


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(build: Callable[[], nn.Module], in_channels: int, size: tuple[int, int]) -> float:
    """Forward GFLOPs of one (1, C, H, W) image, built and run on the meta device (no compute)."""
    with torch.device("meta"):
        model = build().eval()
        x = torch.empty(1, in_channels, *size)  # (1, C, H, W)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 1e9


@dataclass
class RuntimeResult:
    """Latency and memory of one runtime; latencies in milliseconds per batch."""

    runtime: str
    p50_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    fps: float  # images per second: batch * 1000 / mean_ms
    peak_memory_mb: float | None
    memory_method: str
    load_average_before: tuple[float, float, float]  # os.getloadavg(): 1, 5, 15 minutes
    load_average_after: tuple[float, float, float]
    threads: int
    provider: str = ""  # ONNX Runtime execution provider


@dataclass
class BenchReport:
    """Everything ``semseg bench`` measures, with the conditions needed to read it."""

    model: str
    source: str
    arch: str
    arch_kwargs: dict[str, Any]
    num_classes: int
    input_size: tuple[int, int]
    batch: int
    device: str
    threads: int
    warmup: int
    iters: int
    params: int
    gflops: float  # per image
    load_average: tuple[float, float, float]  # at the start of the benchmark
    environment: dict[str, Any]
    runtimes: dict[str, RuntimeResult] = field(default_factory=dict)
    flops_note: str = FLOPS_NOTE
    kind: str = "semseg-bench"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        return asdict(self)


def latency_stats(times_s: Sequence[float], batch: int) -> dict[str, float]:
    """p50/p90/mean/min/max/std in ms and images per second from per-batch wall times (s)."""
    ms = np.asarray(times_s, dtype=np.float64) * 1000
    if ms.size == 0:
        raise ConfigError("latency needs at least one timed iteration")
    mean = float(ms.mean())
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "mean_ms": mean, "min_ms": float(ms.min()), "max_ms": float(ms.max()),
            "std_ms": float(ms.std()), "fps": batch * 1000 / mean}


def time_torch(model: nn.Module, x: torch.Tensor, warmup: int, iters: int) -> list[float]:
    """Wall seconds of ``iters`` forwards after ``warmup``; CUDA is synchronized around each."""
    cuda = x.device.type == "cuda"
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            if cuda:
                torch.cuda.synchronize(x.device)
            start = time.perf_counter()
            model(x)
            if cuda:  # kernels run asynchronously: wait for them before reading the clock
                torch.cuda.synchronize(x.device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def time_session(session: Any, feed: dict[str, np.ndarray], warmup: int, iters: int) -> list[float]:
    """Wall seconds of ``iters`` ONNX Runtime runs after ``warmup`` (``run`` is synchronous)."""
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        session.run(None, feed)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def load_average() -> tuple[float, float, float]:
    """The host's 1/5/15-minute load averages, rounded to 0.01."""
    return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]


def bench_torch(model: nn.Module, x: torch.Tensor, warmup: int, iters: int,
                threads: int) -> RuntimeResult:
    """Eager PyTorch latency and peak memory of ``model`` on ``x``'s device."""
    before = load_average()
    times = time_torch(model, x, warmup, iters)
    after = load_average()
    if x.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(x.device)
        time_torch(model, x, 0, 1)
        peak, method = torch.cuda.max_memory_allocated(x.device), "torch.cuda.max_memory_allocated"
    else:
        peak = state_bytes(model) + forward_peak_bytes(model, x)
        method = "parameters + buffers + peak live tensor bytes in one forward"
    return RuntimeResult("torch", **latency_stats(times, x.shape[0]), peak_memory_mb=peak / MB,
                         memory_method=method, load_average_before=before,
                         load_average_after=after, threads=threads)


def bench_onnxruntime(loaded: LoadedModel, x: torch.Tensor, warmup: int, iters: int,
                      threads: int, device: str) -> RuntimeResult:
    """Export ``loaded`` to a temporary ONNX file and time ONNX Runtime on ``x``."""
    from semseg.export.onnx import INPUT_NAME, export_onnx, onnx_session

    model = loaded.model.cpu()
    with tempfile.TemporaryDirectory(prefix="semseg-bench-") as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx", tuple(x.shape[-2:]),
                           in_channels=x.shape[1])
        feed = {INPUT_NAME: x.cpu().numpy()}
        with RssPeak() as rss:
            session = onnx_session(path, threads, device)
            before = load_average()
            times = time_session(session, feed, warmup, iters)
            after = load_average()
    return RuntimeResult("onnxruntime", **latency_stats(times, x.shape[0]),
                         peak_memory_mb=rss.bytes / MB, memory_method=rss.method,
                         load_average_before=before, load_average_after=after, threads=threads,
                         provider=session.get_providers()[0])


def environment(device: str) -> dict[str, Any]:
    """Host, library versions and accelerator that the numbers were measured on."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": ort_version,
            "gpu": torch.cuda.get_device_name(device) if device != "cpu" else None,
            # OpenMP's spin-waiting makes multi-threaded eager torch far slower on a busy host
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}}


def check_options(size: tuple[int, int], batch: int, threads: int, device: str,
                  runtimes: Sequence[str], warmup: int, iters: int) -> None:
    """Raise ``ConfigError`` naming the first invalid benchmark option."""
    checks = {
        "size": (len(size) == 2 and min(size) >= 1, "(H, W) >= 1"),
        "batch": (batch >= 1, ">= 1"),
        "threads": (threads >= 1, ">= 1"),
        "device": (device == "cpu" or device.startswith("cuda"), "cpu, cuda or cuda:N"),
        "runtimes": (bool(runtimes) and set(runtimes) <= set(RUNTIMES), " and ".join(RUNTIMES)),
        "warmup": (warmup >= 0, ">= 0"),
        "iters": (iters >= 0, ">= 0 (0 skips latency and memory)"),
    }
    for name, (ok, expected) in checks.items():
        if not ok:
            raise ConfigError(f"bad benchmark {name} {locals()[name]!r}; expected {expected}")
    resolve_device(device)  # CUDA asked for without CUDA, or cuda:N past the last GPU


def benchmark(
    loaded: LoadedModel,
    size: tuple[int, int] = (360, 480),
    batch: int = 1,
    threads: int | None = None,
    device: str = "cpu",
    runtimes: Sequence[str] = ("torch",),
    warmup: int = 5,
    iters: int = 30,
    seed: int = 0,
) -> BenchReport:
    """Measure ``loaded``: size always; latency and memory per runtime when ``iters`` > 0."""
    threads = threads or torch.get_num_threads()
    check_options(size, batch, threads, device, runtimes, warmup, iters)
    spec = loaded.spec
    report = BenchReport(
        model=loaded.name, source=loaded.source, arch=spec.arch, arch_kwargs=spec.arch_kwargs,
        num_classes=spec.out_channels, input_size=tuple(size), batch=batch, device=device,
        threads=threads, warmup=warmup, iters=iters, params=count_params(loaded.model),
        gflops=count_gflops(spec.build, spec.in_channels, size), load_average=load_average(),
        environment=environment(device),
    )
    if iters == 0:
        return report
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, spec.in_channels, *size, generator=generator)  # (N, C, H, W)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if "onnxruntime" in runtimes:  # first: the export needs the model on the CPU
            ort_result = bench_onnxruntime(loaded, x, warmup, iters, threads, device)
        if "torch" in runtimes:
            model = loaded.model.to(device).eval()
            report.runtimes["torch"] = bench_torch(model, x.to(device), warmup, iters, threads)
        if "onnxruntime" in runtimes:
            report.runtimes["onnxruntime"] = ort_result
    finally:
        torch.set_num_threads(previous)
    return report
