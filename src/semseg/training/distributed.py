"""Data-parallel training under ``torchrun``: process group, sharded data, gradient all-reduce.

Switched on by the environment variables ``torchrun`` sets (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``), as in torchvision's references; nothing happens
in a single process. ``TrainConfig.batch_size`` is the GLOBAL batch: each of N processes takes
``batch_size / N`` images of each single-process batch (the role of a ``DistributedSampler``),
so 1 and N processes see the same images per optimizer step and a run can be resumed under a
different process count. Only rank 0 writes files.

Example:
    $ torchrun --standalone --nproc-per-node 2 -m semseg train --config cfg.yaml -o runs/ddp
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

from semseg.errors import ConfigError, SemsegError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the one process that writes checkpoints, logs and prints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1


SINGLE = DistEnv()  # one process, not distributed

def env_from_environ() -> DistEnv:
    """Rank, world size and local rank from the variables torchrun sets (defaults: 0, 1, 0)."""
    return DistEnv(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def init(device: str, batch_size: int, timeout_s: float) -> DistEnv:
    """Join the process group torchrun prepared (gloo on CPU, NCCL on CUDA); no-op alone.

    ``timeout_s`` bounds every collective: a rank that dies makes the others fail after at
    most that long instead of hanging (torchrun usually stops them sooner).
    """
    env = env_from_environ()
    if not env.enabled:
        return env
    if batch_size % env.world_size:
        raise ConfigError(f"batch_size {batch_size} (the global batch) is not divisible by the "
                          f"{env.world_size} processes; use a multiple of {env.world_size}")
    if device.startswith("cuda:"):
        raise ConfigError(f"device {device!r} under torchrun: each process uses the GPU of its "
                          "local rank; use cuda or auto")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(env.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s))
    return env


def close(env: DistEnv) -> None:
    """Wait for every rank, then leave the process group."""
    if env.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class _AuxDDP(nn.Module):
    """Routes ``forward_with_aux`` through DDP's forward so auxiliary-head gradients sync too."""

    def __init__(self, ddp: DistributedDataParallel, aux_weights: dict[str, float]) -> None:
        super().__init__()
        self.ddp = ddp
        self.aux_weights = aux_weights

    def forward_with_aux(self, x: torch.Tensor):
        return self.ddp(x)


class _WithAux(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model.forward_with_aux(x)


def wrap(model: nn.Module, device: torch.device, env: DistEnv,
         sync_bn: bool) -> tuple[nn.Module, nn.Module]:
    """(model, training model): the model to evaluate and save, and its DDP wrapper to train.

    ``sync_bn`` converts BatchNorm to SyncBatchNorm (CUDA only: PyTorch has no CPU kernel);
    without it each process normalizes over its own share of the batch.
    """
    if not env.enabled:
        return model, model
    if sync_bn:
        if device.type != "cuda":
            raise ConfigError("sync_bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index if device.index is not None else env.local_rank] \
        if device.type == "cuda" else None
    if hasattr(model, "forward_with_aux"):
        ddp = DistributedDataParallel(_WithAux(model), device_ids=ids)
        return model, _AuxDDP(ddp, getattr(model, "aux_weights", {}))
    return model, DistributedDataParallel(model, device_ids=ids)


class GlobalMeanLoss(nn.Module):
    """A cross-entropy averaged over the pixels of the GLOBAL batch.

    Each rank's criterion averages over its own valid pixels (weighted by class weight); DDP
    then averages the ranks' gradients, which weighs a rank with few labelled pixels as much as
    one with many. Scaling rank r's loss by ``N * D_r / sum(D)`` (D: its summed pixel weights)
    makes the averaged gradient that of the single-process loss over the whole batch.
    """

    def __init__(self, criterion: nn.Module, env: DistEnv) -> None:
        super().__init__()
        self.criterion = criterion
        self.world_size = env.world_size

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.criterion(logits, target)
        valid = target != self.criterion.ignore_index  # (N, H, W)
        weight = self.criterion.weight
        local = (weight[target[valid]].sum() if weight is not None else valid.sum()).double()
        total = local.clone()
        dist.all_reduce(total)
        if total.item() == 0:
            return loss
        return loss * (local * self.world_size / total).to(loss.dtype)


def global_mean_loss(criterion: nn.Module, env: DistEnv) -> nn.Module:
    """``criterion`` rescaled to the global batch under DDP (plain cross-entropy only: with
    OHEM the kept pixels depend on the predictions, and Dice, Lovasz, focal and sums of losses
    are not means over pixels, so each rank keeps its own value and DDP averages them)."""
    from semseg.training.losses import CrossEntropy

    if not env.enabled or type(criterion) is not CrossEntropy \
            or criterion.ohem_thresh is not None:
        return criterion
    return GlobalMeanLoss(criterion, env)


def epoch_loader(train_ds, batch_size: int, seed: int, epoch: int, env: DistEnv, workers: int,
                 worker_init_fn=None) -> DataLoader:
    """This rank's share of the epoch: the single-process loader's batches (``batch_size``
    images, shuffled from ``seed + epoch``), each cut into N parts; rank r takes part r."""
    # The same DataLoader the single process builds, over indices instead of images, gives
    # exactly its order (it draws from the generator as the real one does).
    order = DataLoader(range(len(train_ds)), batch_size=batch_size, shuffle=True, drop_last=True,
                       generator=torch.Generator().manual_seed(seed + epoch))
    per_rank = batch_size // env.world_size
    mine = [int(i) for batch in order
            for i in batch[env.rank * per_rank:(env.rank + 1) * per_rank]]
    # Different augmentation draws per rank (the main process reseeds NumPy per epoch).
    np.random.seed((seed + epoch + 7919 * env.rank) % 2**32)
    base = train_ds.dataset if isinstance(train_ds, Subset) else train_ds
    tf = getattr(base, "transform", None)
    if workers == 0 and tf is not None and hasattr(tf, "pipeline"):
        tf.pipeline.set_random_seed((seed + epoch + 7919 * env.rank) % 2**31)
    return DataLoader(train_ds, batch_size=per_rank, sampler=mine, drop_last=True,
                      num_workers=workers, worker_init_fn=worker_init_fn,
                      pin_memory=torch.cuda.is_available())


def shard(dataset, env: DistEnv):
    """This rank's images for evaluation: every N-th one, WITHOUT padding (a padded sampler
    would count repeated images twice in the all-reduced confusion matrix)."""
    if not env.enabled:
        return dataset
    return Subset(dataset, range(env.rank, len(dataset), env.world_size))


def mean(value: float, env: DistEnv, device: torch.device) -> float:
    """Mean of a per-rank scalar over all ranks."""
    return sum_(value, env, device) / env.world_size


def sum_(value: float, env: DistEnv, device: torch.device) -> float:
    """Sum of a per-rank scalar over all ranks."""
    if not env.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


def launch(cfg, nproc: int, resume: bool = False) -> int:
    """Run ``semseg train`` in ``nproc`` processes on this machine via torchrun; exit code 0
    or a ``TrainingFailed`` naming torchrun's exit code."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from semseg.fileio.images import atomic_write

    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: expected >= 1")
    out = Path(cfg.out_dir)
    path = atomic_write(out / "launch_config.json",
                        lambda tmp: tmp.write_text(json.dumps(cfg.to_dict(), indent=2)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           "--nproc-per-node", str(nproc), "-m", "semseg", "train", "--config", str(path)]
    rc = subprocess.run(cmd + (["--resume"] if resume else []), check=False).returncode
    if rc != 0:
        raise TrainingFailed(f"{nproc}-process training in {out} failed (torchrun exit code "
                             f"{rc}); the failing rank's error is printed above")
    return 0


class TrainingFailed(SemsegError):
    """A process of a distributed training job failed, so the job stopped."""
