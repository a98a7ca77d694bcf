"""Load figures for ``semseg serve``: throughput, latency percentiles, errors, server RSS.

Run from the repository root (starts its own server on 127.0.0.1, stops it at the end):

    PYTHONPATH=src python benchmarks/serve_load.py --requests 1000 --clients 8 \\
        --workers 2 --threads 1 -o docs/serving.md

Phases, each bounded in count and by ``--max-seconds``: a warm-up, then ``--requests`` POSTs of
``--image`` (default: the bundled 360x480 CamVid JPEG) from ``--clients`` concurrent clients,
then an overload burst of ``--overload-requests`` from ``--overload-clients`` clients (more than
workers + queue) that should get fast 503s rather than growing latency. The server's RSS comes
from /proc/<pid>/status; the host's load average is recorded because on a shared machine with
fewer cores than the load every latency is inflated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLI = (sys.executable, "-c", "import sys; from semseg.cli import main; sys.exit(main())")


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    requests: int
    clients: int
    seconds: float = 0.0
    latencies: dict[int, list[float]] = field(default_factory=dict)  # status -> seconds
    failures: Counter = field(default_factory=Counter)  # transport errors by type

    @property
    def done(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def percentiles(self, status: int = 200) -> dict[str, float]:
        lat = np.asarray(self.latencies.get(status, [float("nan")])) * 1000
        return {q: float(np.percentile(lat, p)) for q, p in
                (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    """``semseg serve`` on 127.0.0.1; returns once /readyz answers."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "SEMSEG_OFFLINE": "1",
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [*CLI, "serve", args.model, "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers), "--threads", str(args.threads),
         "--queue", str(args.queue), "--runtime", args.runtime, "--log-level", "warning"],
        env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"semseg serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("semseg serve did not become ready in 180 s")


async def run_phase(url: str, image: bytes, phase: Phase, deadline: float) -> Phase:
    """``phase.requests`` POSTs from ``phase.clients`` concurrent clients (stops at deadline)."""
    issued = 0
    limits = httpx.Limits(max_connections=phase.clients, max_keepalive_connections=phase.clients)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < phase.requests and time.monotonic() < deadline:
            issued += 1
            start = time.perf_counter()
            try:
                r = await client.post("/v1/segment",
                                      files={"image": ("street.jpg", image, "image/jpeg")})
                phase.latencies.setdefault(r.status_code, []).append(time.perf_counter() - start)
            except httpx.HTTPError as exc:
                phase.failures[type(exc).__name__] += 1

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(phase.clients)))
        phase.seconds = time.perf_counter() - start
    return phase


def report(args: argparse.Namespace, phases: dict[str, Phase], rss: dict[str, float],
           load: dict[str, tuple[float, float, float]], image_size: tuple[int, int]) -> str:
    """docs/serving.md."""
    main, over = phases["main"], phases["overload"]
    p = main.percentiles()
    ok = len(main.latencies.get(200, []))
    errors = main.done - ok + sum(main.failures.values())
    statuses = ", ".join(f"{s}: {len(v)}" for s, v in sorted(main.latencies.items()))
    over_s = ", ".join(f"{s}: {len(v)}" for s, v in sorted(over.latencies.items()))
    p503 = over.percentiles(503) if 503 in over.latencies else None
    lines = [
        f"# Serving: load figures ({args.runtime})",
        "",
        "Measured by `benchmarks/serve_load.py` against `semseg serve` on 127.0.0.1 (client and "
        "server on the same machine):",
        "",
        "```bash",
        f"PYTHONPATH=src python benchmarks/serve_load.py --requests {args.requests} "
        f"--clients {args.clients} --workers {args.workers} --threads {args.threads} "
        f"--queue {args.queue} --runtime {args.runtime} -o {args.output}",
        "```",
        "",
        f"Setup: model `{args.model}` ({args.runtime}), a {image_size[1]}x{image_size[0]} JPEG "
        f"(`{args.image}`) posted as multipart, JSON answers; one uvicorn process with "
        f"{args.workers} inference workers x {args.threads} torch thread(s), queue "
        f"{args.queue}; {args.warmup} warm-up requests first. Machine: {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}; "
        f"measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"The host's 1-minute load average was {load['before'][0]:.2f} before and "
        f"{load['after'][0]:.2f} after the run on {os.cpu_count()} cores"
        + (" (other jobs were using the CPUs, so throughput is lower and latency higher than "
           "on an idle machine)." if load["before"][0] > 1.5 else "."),
        "",
        "| phase | requests | clients | wall s | req/s | p50 ms | p95 ms | p99 ms | max ms | "
        "statuses | transport errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| load | {main.done} | {main.clients} | {main.seconds:.1f} | "
        f"{main.done / main.seconds:.2f} | {p['p50']:.0f} | {p['p95']:.0f} | {p['p99']:.0f} | "
        f"{p['max']:.0f} | {statuses} | {sum(main.failures.values())} |",
        f"| overload | {over.done} | {over.clients} | {over.seconds:.1f} | "
        f"{over.done / max(over.seconds, 1e-9):.2f} | - | - | - | - | {over_s} | "
        f"{sum(over.failures.values())} |",
        "",
        f"Errors in the load phase (non-200 answers plus transport errors): **{errors}**.",
        "",
        f"Server RSS: {rss['start']:.1f} MB after start, {rss['warm']:.1f} MB after warm-up, "
        f"{rss['after']:.1f} MB after the load phase (growth after warm-up "
        f"**{rss['after'] - rss['warm']:+.1f} MB** over {main.done} requests), "
        f"{rss['end']:.1f} MB after the overload burst. Latencies are of the 200 answers, "
        "measured at the client (upload, queue, decode, inference, JSON).",
        "",
    ]
    if p503 is not None:
        lines += [
            f"Overload: {over.clients} clients against {args.workers} workers + {args.queue} "
            f"queue slots: {len(over.latencies[503])} of {over.done} requests were refused "
            f"with 503 and Retry-After, in p50 {p503['p50']:.0f} ms / p99 {p503['p99']:.0f} ms "
            "at the client (a refusal parses no body and runs no model; at this load average "
            "that time is mostly waiting for a CPU); "
            f"{sum(over.failures.values())} transport errors.",
            "",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime"))
    p.add_argument("--image", default="src/semseg/assets/street.jpg")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--queue", type=int, default=16, help="must be >= clients - workers")
    p.add_argument("--overload-requests", type=int, default=200)
    p.add_argument("--overload-clients", type=int, default=48)
    p.add_argument("--max-seconds", type=float, default=1200, help="stop issuing after this")
    p.add_argument("-o", "--output", default="docs/serving.md")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start a server, run the phases, write the report."""
    args = parse_args(argv)
    from PIL import Image

    from semseg.fileio.images import atomic_write

    image = (REPO / args.image).read_bytes()
    image_size = Image.open(REPO / args.image).size[::-1]  # (H, W)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args, port)
    deadline = time.monotonic() + args.max_seconds
    try:
        rss = {"start": rss_mb(proc.pid)}
        asyncio.run(run_phase(url, image, Phase("warmup", args.warmup, args.clients), deadline))
        rss["warm"] = rss_mb(proc.pid)
        load = {"before": os.getloadavg()}
        phases = {"main": asyncio.run(run_phase(url, image, Phase("main", args.requests,
                                                                  args.clients), deadline))}
        load["after"] = os.getloadavg()
        rss["after"] = rss_mb(proc.pid)
        phases["overload"] = asyncio.run(run_phase(
            url, image, Phase("overload", args.overload_requests, args.overload_clients),
            deadline))
        time.sleep(1)
        rss["end"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = report(args, phases, rss, load, image_size)
    atomic_write(REPO / args.output, lambda tmp: tmp.write_text(text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
