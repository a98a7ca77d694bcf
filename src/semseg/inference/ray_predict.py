"""Batch inference with Ray Data: files read by Ray, segmented by a pool of model actors.

Each actor loads the model once and writes the same files as the local ``semseg predict``
(``<stem>_mask.png``, ``_color.png``, ``_overlay.png``); a file that cannot be decoded is
reported by name and the others are still written. Alone, Ray starts a local cluster on this
machine; ``address`` joins a running one (``ray start --head`` / ``ray start --address``), and
then the input and output folders and the model file must be reachable from every node.

The pool never reserves every CPU: Ray Data's read tasks need one too, and a pool holding all
CPUs waits forever (ray-project/ray#44687). Actors get ``(CPUs - 1) / actors`` CPUs each
(fractional when they share one) and ``max(1, floor(that))`` torch threads, so actors x threads
stays within the cores.

Example:
    >>> report = predict_with_ray("default", [Path("a.jpg"), Path("b.jpg")], Path("out"))
    >>> report.images_per_s, report.failed
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semseg.errors import ConfigError, SemsegError

RESERVED_CPUS = 1.0  # for Ray Data's read tasks and the driver


@dataclass(frozen=True)
class RayReport:
    """What a Ray Data run did: images written, files that failed (path -> reason), timing."""

    written: int
    failed: dict[str, str]
    seconds: float
    actors: int
    cpus_per_actor: float
    threads_per_actor: int
    cluster_cpus: float

    @property
    def images_per_s(self) -> float:
        """Images segmented per second of pipeline wall time (Ray start-up not included)."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def pool_size(cluster_cpus: float, actors: int | None) -> tuple[int, float, int]:
    """(actors, CPUs per actor, torch threads per actor) for a cluster of ``cluster_cpus``."""
    usable = cluster_cpus - RESERVED_CPUS
    if usable <= 0:
        raise ConfigError(f"the Ray cluster has {cluster_cpus:g} CPU(s); Ray Data needs at least "
                          f"{RESERVED_CPUS + 0.5:g} (one for reading, some for the model)")
    n = actors if actors is not None else max(1, math.floor(usable))
    if n < 1:
        raise ConfigError(f"--ray-actors {n}: expected >= 1")
    cpus = min(1.0, usable / n)  # fractional when actors share a CPU
    return n, cpus, max(1, math.floor(cpus))


class _Predictor:
    """One actor: the model loaded once, then batches of file bytes in, files written out."""

    def __init__(self, model: str, device: str, threads: int, output: str,
                 options: dict[str, Any]) -> None:
        import torch

        from semseg.inference.segmenter import Segmenter

        torch.set_num_threads(threads)
        self.segmenter = Segmenter.from_pretrained(model, device=device)
        self.output = Path(output)
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from semseg.fileio.images import decode_image

        paths = [str(p) for p in batch["path"]]
        errors = [""] * len(paths)
        images, good = [], []
        for i, (path, data) in enumerate(zip(paths, batch["bytes"], strict=True)):
            try:
                images.append(decode_image(bytes(data), path))
                good.append(i)
            except SemsegError as exc:
                errors[i] = str(exc)
        opts = self.options
        if images:
            results = self.segmenter.predict_batch(images, tta=opts["tta"], scales=opts["scales"],
                                                   window=opts["window"])
            for i, result in zip(good, results, strict=True):
                result.save(self.output, Path(paths[i]).stem, probs=opts["probs"],
                            alpha=opts["alpha"], classes=opts["classes"])
        # only names and errors go back: sending images back would double object-store traffic
        return {"path": np.array(paths, dtype=object), "error": np.array(errors, dtype=object)}


def _connect(address: str | None) -> bool:
    """Join ``address``, or the already running Ray, or start a local one; True if started."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR",
                              "log_to_driver": False}
    if address is not None:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
    return True


def predict_with_ray(
    model: str,
    files: list[Path],
    output: Path,
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    options: dict[str, Any] | None = None,
) -> RayReport:
    """Segment image ``files`` with a Ray Data actor pool; write outputs into ``output``."""
    try:
        import ray
        from ray.data import ActorPoolStrategy, DataContext
    except ImportError:
        raise ConfigError("--engine ray needs Ray Data: pip install 'semseg[ray]'") from None
    opts = {"tta": False, "scales": None, "window": None, "probs": False, "alpha": 0.5,
            "classes": None, **(options or {})}
    started_ray = _connect(address)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 0))
        n, cpus_per_actor, threads = pool_size(cpus, actors)
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False
        start = time.perf_counter()
        given = {str(f.resolve()): str(f) for f in files}  # report names as the user gave them
        ds = ray.data.read_binary_files(list(given), include_paths=True)
        ds = ds.map_batches(
            _Predictor, batch_size=batch_size, batch_format="numpy",
            compute=ActorPoolStrategy(size=n), num_cpus=cpus_per_actor,
            fn_constructor_kwargs={"model": model, "device": device, "threads": threads,
                                   "output": str(output.resolve()), "options": opts})
        failed: dict[str, str] = {}
        written = 0
        for row in ds.iter_rows():
            if row["error"]:
                path = str(row["path"])
                name = given.get(path, path)
                failed[name] = str(row["error"]).replace(path, name)
            else:
                written += 1
        seconds = time.perf_counter() - start
    finally:
        if started_ray:
            ray.shutdown()
    return RayReport(written, failed, seconds, n, cpus_per_actor, threads, cpus)
