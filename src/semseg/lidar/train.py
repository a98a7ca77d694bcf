"""Train a range-image model (SalsaNext) on SemanticKITTI scans and score it point-wise.

``semseg train --format semantickitti`` lands here with the same ``TrainConfig``: ``eval_size``
is the range image (default 64 x 2048), ``hflip`` switches the point augmentation of
``semseg.lidar.augment`` on or off, ``class_weighting`` "none" drops SalsaNext's class weights
1 / (f_c + 0.001) (f_c from the ``content`` shares). The loss is SalsaNext's: weighted
cross-entropy plus Lovasz-softmax. Optimiser and schedule are the project's (``--optimizer sgd
--lr 0.01`` gives the paper's SGD; the paper decays lr x 0.99 per epoch, here poly). Validation
labels every point with the KNN vote and fills one confusion matrix over the 19 classes, the
same function ``semseg eval --format semantickitti`` calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from semseg.data import semantickitti as kitti
from semseg.hub.checkpoint import ModelSpec, save_checkpoint
from semseg.lidar.augment import augment_scan
from semseg.lidar.inference import predict_scan
from semseg.lidar.projection import ProjectionConfig, project, project_labels
from semseg.metrics.confusion import ConfusionMatrix
from semseg.training.config import TrainConfig
from semseg.training.lovasz import lovasz_softmax


@dataclass(frozen=True)
class RangeSpec:
    """Projection and normalisation a model was trained with (kept in its ``ModelSpec``)."""

    projection: ProjectionConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_model_spec(cls, spec: ModelSpec) -> RangeSpec:
        """Range-image size from ``spec.input_size`` (64 x 2048 if unset), stats from its info."""
        h, w = spec.input_size or (64, 2048)
        return cls(ProjectionConfig(h, w), spec.info.mean, spec.info.std)


class ScanDataset(Dataset):
    """Labelled scans -> (normalised range image (5, H, W), pixel train ids (H, W))."""

    def __init__(self, scans: list[kitti.ScanFile], rs: RangeSpec, augment: bool) -> None:
        self.scans, self.rs, self.augment = scans, rs, augment

    def __len__(self) -> int:
        return len(self.scans)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        points, labels = kitti.read_labelled(self.scans[i])
        if self.augment:  # torch's RNG: seeded by the run, distinct per loader worker and epoch
            rng = np.random.default_rng([int(torch.randint(2**31, ())), i])
            points, labels = augment_scan(points, labels, rng)
        proj = project(points, self.rs.projection, self.rs.mean, self.rs.std)
        target = project_labels(labels, proj, fill=kitti.INFO.ignore_index)
        return torch.from_numpy(proj.image), torch.from_numpy(target.astype(np.int64))


def salsanext_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None,
                   ignore_index: int = 255) -> torch.Tensor:
    """Weighted cross-entropy + Lovasz-softmax of (N, C, H, W) logits, as SalsaNext trains."""
    ce = F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index)
    if not (target != ignore_index).any():
        ce = logits.sum() * 0.0  # cross-entropy's mean over no pixels is 0/0
    return ce + lovasz_softmax(logits.softmax(dim=1), target, ignore_index)


def evaluate_scans(model: nn.Module, scans: list[kitti.ScanFile], rs: RangeSpec,
                   knn: bool = True, device: str = "cpu",
                   progress: Callable[[int], None] | None = None) -> ConfusionMatrix:
    """Point-wise confusion matrix of ``model`` over labelled scans (KNN labels every point)."""
    cm = ConfusionMatrix(kitti.INFO.num_classes, kitti.INFO.ignore_index)
    for item in scans:
        points, labels = kitti.read_labelled(item)
        pred = predict_scan(model, points, rs.projection, rs.mean, rs.std, knn=knn,
                            device=device)
        cm.update(torch.from_numpy(pred.labels), torch.from_numpy(labels.astype(np.int64)))
        if progress is not None:
            progress(1)
    return cm


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer, scheduler,
                    weight: torch.Tensor | None, device: torch.device,
                    max_steps: int | None = None) -> float:
    """One pass over the loader; returns the mean loss."""
    model.train()
    total, steps = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = salsanext_loss(model(x), y, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total, steps = total + loss.item(), steps + 1
        if max_steps is not None and steps >= max_steps:
            break
    return total / max(steps, 1)


@dataclass
class ScanRun:
    """What a LiDAR run trains with (``_setup``): scans of both splits, model and optimiser."""

    device: torch.device
    train: list
    val: list
    spec: ModelSpec
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def _setup(cfg: TrainConfig) -> ScanRun:
    from semseg.training.train import (
        build_optimizer,
        build_scheduler,
        resolve_device,
        seed_everything,
    )

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    train = kitti.split_scans(cfg.data, cfg.train_split)[: cfg.limit_train]
    val = kitti.split_scans(cfg.data, cfg.val_split)[: cfg.limit_val]
    spec = ModelSpec(arch=cfg.arch, info=kitti.INFO, in_channels=len(kitti.INFO.mean),
                     arch_kwargs=dict(cfg.arch_kwargs), input_size=cfg.eval_size or (64, 2048))
    model = spec.build().to(device)
    steps = min(max(len(train) // cfg.batch_size, 1), cfg.steps_per_epoch or 10**9)
    optimizer = build_optimizer(cfg, model)
    return ScanRun(device, train, val, spec, model, optimizer,
                   build_scheduler(cfg, optimizer, steps))


def main(cfg: TrainConfig) -> dict[str, Any]:
    """Train on ``cfg.train_split`` scans, score ``cfg.val_split`` point-wise; writes best.pt,
    last.pt and log.jsonl under ``cfg.out_dir``."""
    run = _setup(cfg)
    rs = RangeSpec.from_model_spec(run.spec)
    weight = None
    if cfg.class_weighting != "none":
        weight = torch.as_tensor(kitti.class_weights(), dtype=torch.float32, device=run.device)
    loader = DataLoader(ScanDataset(run.train, rs, augment=cfg.hflip), batch_size=cfg.batch_size,
                        shuffle=True, drop_last=len(run.train) > cfg.batch_size,
                        num_workers=cfg.workers if len(run.train) > 1 else 0)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    best, metrics = -1.0, {}
    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        record: dict[str, Any] = {"epoch": epoch, "loss": train_one_epoch(
            run.model, loader, run.optimizer, run.scheduler, weight, run.device,
            cfg.steps_per_epoch)}
        if epoch % cfg.val_every == 0 or epoch == cfg.epochs:
            scores = evaluate_scans(run.model, run.val, rs, device=str(run.device)).compute()
            metrics = scores.to_dict(kitti.INFO.classes)
            record.update(miou=scores.miou, point_acc=scores.pixel_acc)
            if scores.miou > best:
                best = scores.miou
                save_checkpoint(out / "best.pt", run.model, run.spec, epoch=epoch, metrics=metrics,
                                config=cfg.to_dict())
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            save_checkpoint(out / "last.pt", run.model, run.spec, epoch=epoch, metrics=metrics,
                            config=cfg.to_dict(), best_miou=best)
        record["seconds"] = time.perf_counter() - started
        with (out / "log.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
    return {"best_miou": best, "last": metrics, "out_dir": str(out), "epochs": cfg.epochs}
