"""Training: plain functions (``train_one_epoch``, ``main``) over a ``TrainConfig``.

Every epoch is seeded from (seed, epoch), and ``last.pt`` holds model, optimizer, scheduler,
scaler and RNG states, so a run killed at any point resumes from its last finished epoch and
ends with the same weights as an uninterrupted run (CPU, same thread count).

Example:
    >>> from semseg.training.config import TrainConfig
    >>> summary = main(TrainConfig(epochs=1, steps_per_epoch=2, out_dir="/tmp/run"))
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from semseg.data import DatasetInfo, get_format
from semseg.data.dataset import JoinedSplits
from semseg.data.transforms import check_size, eval_transform, train_transform
from semseg.device import resolve_device
from semseg.errors import ConfigError, TrainingError
from semseg.fileio.images import atomic_write
from semseg.hub.checkpoint import (
    ModelSpec,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from semseg.inference.segmenter import InferenceOptions
from semseg.metrics.evaluate import evaluate
from semseg.training import distributed
from semseg.training.config import TrainConfig
from semseg.training.distill import Distiller, load_teacher
from semseg.training.log import TrainLog
from semseg.training.losses import build_loss, class_pixel_counts, enet_class_weights, parse_loss


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_datasets(cfg: TrainConfig):
    """Training and validation datasets with their transforms, and the dataset info."""
    fmt = get_format(cfg.format)
    sources = {s.split: s for s in fmt.splits(cfg.data, palette=cfg.palette)}
    train_splits = cfg.train_split.split("+")  # "train+val": the release protocol
    for split in (*train_splits, cfg.val_split):
        if split not in sources:
            raise ConfigError(f"{cfg.data}: split {split!r} not found; have {list(sources)}")
    info = sources[train_splits[0]].info
    tf = train_transform(
        info, cfg.crop_size, cfg.scale_range, hflip=cfg.hflip, color_jitter=cfg.color_jitter)
    parts = []
    for split in train_splits:
        source = sources[split]
        if cfg.train_masks:
            from semseg.points.data import with_masks

            source = with_masks(source, cfg.train_masks, cfg.limit_train)
        parts.append(source.dataset(tf))
    train = parts[0] if len(parts) == 1 else JoinedSplits(parts)
    if cfg.supervision == "points":
        from semseg.points.data import PointDataset

        train = PointDataset(train, cfg.clicks, cfg.click_protocol, cfg.seed)
    if cfg.eval_size is not None:
        check_size(cfg.eval_size, "eval size")
    val = sources[cfg.val_split].dataset(eval_transform)  # native size; see _validate
    if cfg.limit_train:
        train = Subset(train, range(min(cfg.limit_train, len(train))))
    if cfg.limit_val:
        val = Subset(val, range(min(cfg.limit_val, len(val))))
    return train, val, info


def _base(ds):
    return ds.dataset if isinstance(ds, Subset) else ds


def build_criterion(cfg: TrainConfig, train_ds, num_classes: int, ignore: int) -> nn.Module:
    """``cfg.loss`` (default cross-entropy) with ENet class weights from the training masks
    (point supervision: its own loss, see semseg.points.losses)."""
    if cfg.supervision == "points":
        from semseg.points.losses import point_criterion

        return point_criterion(cfg.point_loss, num_classes, ignore)
    weight = None
    weighted = any(name in ("ce", "focal") for _, name in parse_loss(cfg.loss))
    if cfg.class_weighting == "enet" and weighted:
        indices = train_ds.indices if isinstance(train_ds, Subset) else None
        weight = enet_class_weights(class_pixel_counts(_base(train_ds), num_classes, indices))
    return build_loss(cfg.loss, weight, ignore_index=ignore, ohem_thresh=cfg.ohem_thresh,
                      focal_gamma=cfg.focal_gamma)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or SGD; no weight decay on norm layers and biases."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def build_scheduler(cfg: TrainConfig, optimizer, steps_per_epoch: int):
    """Linear warm-up then poly decay, stepped every iteration."""
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, 1 - (step - warmup) / max(1, total - warmup)) ** cfg.poly_power

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    seed = info.seed % 2**32
    random.seed(seed)
    np.random.seed(seed)
    tf = getattr(_base(info.dataset), "transform", None)
    if tf is not None and hasattr(tf, "pipeline"):
        tf.pipeline.set_random_seed(seed)


def epoch_loader(cfg: TrainConfig, train_ds, epoch: int) -> DataLoader:
    """A loader whose shuffling and augmentation depend only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    tf = getattr(_base(train_ds), "transform", None)
    if cfg.workers == 0 and tf is not None:
        tf.pipeline.set_random_seed(cfg.seed * 100_003 + epoch)
    return DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                      num_workers=cfg.workers, generator=gen, worker_init_fn=_worker_init,
                      persistent_workers=False, pin_memory=torch.cuda.is_available())


def compute_loss(model: nn.Module, criterion: nn.Module, x, y,
                 distiller: Distiller | None = None) -> torch.Tensor:
    """Main loss plus weighted auxiliary losses for models with ``forward_with_aux``, plus the
    distillation term on the main logits when a ``distiller`` (teacher) is given."""
    if hasattr(model, "forward_with_aux"):
        logits, aux = model.forward_with_aux(x)
        loss = criterion(logits, y)
        for name, aux_logits in aux.items():
            loss = loss + model.aux_weights.get(name, 0.4) * criterion(aux_logits, y)
    else:
        logits = model(x)
        loss = criterion(logits, y)
    return loss if distiller is None else loss + distiller(logits, x)


def train_one_epoch(model, loader, criterion, optimizer, scheduler, scaler, device, cfg,
                    report, epoch: int = 0, distiller: Distiller | None = None
                    ) -> dict[str, float]:
    """One pass over the loader; returns mean loss, last LR and images/s."""
    model.train()
    total, seen, start = 0.0, 0, time.perf_counter()
    steps = min(len(loader), cfg.steps_per_epoch or len(loader))
    for step, (x, y) in enumerate(loader):
        if step >= steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if device.type == "cuda" and cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, enabled=device.type == "cuda" and cfg.amp):
            loss = compute_loss(model, criterion, x, y, distiller)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss became {loss.item()} at epoch {epoch} step {step + 1}: lower the "
                f"learning rate (now {optimizer.param_groups[0]['lr']:.3g}), raise warmup_epochs, "
                "or check the data for bad labels")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total += loss.item() * x.shape[0]
        seen += x.shape[0]
        report(step + 1, steps, total / seen, optimizer.param_groups[0]["lr"],
               seen / (time.perf_counter() - start))
    return {"loss": total / max(seen, 1), "lr": optimizer.param_groups[0]["lr"],
            "images_per_s": seen / (time.perf_counter() - start)}


def _validate(model, val_ds, info, device, cfg,
              env: distributed.DistEnv = distributed.SINGLE) -> dict[str, Any]:
    loader = DataLoader(distributed.shard(val_ds, env), batch_size=1,
                        num_workers=min(cfg.workers, 2))
    # the spec's input size is cfg.eval_size, so this is what `semseg eval` of the checkpoint does
    cm, _ = evaluate(model, loader, info, InferenceOptions(input_size=cfg.eval_size),
                     device=device)
    cm.reduce_()  # sums the ranks' matrices under torchrun; no-op in one process
    return cm.compute().to_dict(info.classes)


@dataclass
class RunState:
    """Everything a run trains with, built by ``_setup`` (restored from last.pt on resume).

    ``cfg`` is the run's config: on resume, the one saved in last.pt (with the new ``epochs``
    and ``out_dir``). ``model`` is the bare model, before any DDP wrapping.
    """

    cfg: TrainConfig
    device: torch.device
    info: DatasetInfo
    spec: ModelSpec
    model: nn.Module
    train_ds: Dataset
    val_ds: Dataset
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    distiller: Distiller | None = None  # the teacher, when cfg.teacher is set
    start_epoch: int = 1  # the first epoch still to train
    best: float = -1.0  # best validation mIoU so far

    def resume_state(self) -> dict[str, Any]:
        """The states last.pt holds beside the model so that a resumed run continues exactly."""
        return {"best_miou": self.best, "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": rng_state()}


def _setup(cfg: TrainConfig, resume: bool) -> RunState:
    """Build everything; restore the state of ``last.pt`` when resuming."""
    out = Path(cfg.out_dir)
    state = load_checkpoint(out / "last.pt") if resume and (out / "last.pt").is_file() else None
    if state is not None:
        saved = TrainConfig(**state["config"])
        # only these may change
        saved.epochs, saved.stop_epoch, saved.out_dir = cfg.epochs, cfg.stop_epoch, cfg.out_dir
        cfg = saved
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from semseg.models.registry import check_model_kwargs

    check_model_kwargs(cfg.arch, cfg.arch_kwargs)  # before reading any data
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    train_ds, val_ds, info = build_datasets(cfg)
    arch, arch_kwargs = cfg.arch, dict(cfg.arch_kwargs)
    if cfg.graph_head == "knn3d":  # the checkpoint rebuilds it as gnn3d over the base model
        arch, arch_kwargs = "gnn3d", {"base": cfg.arch, "base_kwargs": arch_kwargs}
    spec = ModelSpec(arch=arch, info=info, in_channels=len(info.mean),
                     arch_kwargs=arch_kwargs, input_size=cfg.eval_size)
    model = spec.build()
    if cfg.pretrained_backbone and state is None and hasattr(model, "load_pretrained_backbone"):
        model.load_pretrained_backbone()
    if cfg.init and state is None:  # after the ImageNet encoder, so the named model's tensors win
        from semseg.training.transfer import init_from

        print(init_from(model, spec, cfg.init).summary(), file=sys.stderr)
    model.to(device)
    if device.type == "cuda" and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = build_criterion(cfg, train_ds, info.num_classes, info.ignore_index).to(device)
    distiller = None
    if cfg.teacher:
        distiller = Distiller(load_teacher(cfg.teacher, info, device), cfg.distill_temperature,
                              cfg.distill_weight)
    steps = min(len(train_ds) // cfg.batch_size, cfg.steps_per_epoch or 10**9)
    if steps < 1:
        raise ConfigError(f"{len(train_ds)} training images < batch size {cfg.batch_size}")
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, steps)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and cfg.amp)
    run = RunState(cfg=cfg, device=device, info=info, spec=spec, model=model, train_ds=train_ds,
                   val_ds=val_ds, criterion=criterion, optimizer=optimizer, scheduler=scheduler,
                   scaler=scaler, distiller=distiller)
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        run.start_epoch, run.best = state["epoch"] + 1, state.get("best_miou", -1.0)
    return run


@contextlib.contextmanager
def _quiet():
    """A progress report that shows nothing (ranks other than 0)."""
    yield lambda *args: None


def train_calibration_step_s(cfg: TrainConfig, steps: int = 2) -> float:
    """Seconds per optimizer step of ``cfg`` on real batches (loading included), after one
    untimed step; used to turn a time budget into a fixed number of steps."""
    run = _setup(cfg, resume=False)
    cfg, device, model, optimizer = run.cfg, run.device, run.model, run.optimizer
    model.train()

    def batches():  # as many as asked for, even from a small training set
        epoch = 0
        while True:
            yield from epoch_loader(cfg, run.train_ds, epoch)
            epoch += 1

    start = 0.0
    for step, (x, y) in zip(range(steps + 1), batches(), strict=False):
        if step == 1:
            start = time.perf_counter()
        loss = compute_loss(model, run.criterion, x.to(device), y.to(device), run.distiller)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train, validating every ``val_every`` epochs; writes last.pt, best.pt, logs, curves.

    Under ``torchrun`` every process trains its share of each batch (see
    semseg.training.distributed)
    and only rank 0 writes files.
    """
    env = distributed.init(cfg.device, cfg.batch_size, cfg.dist_timeout_s)
    run = _setup(cfg, resume)
    cfg, device, out = run.cfg, run.device, Path(run.cfg.out_dir)
    model, train_model = distributed.wrap(run.model, device, env, cfg.sync_bn)
    criterion = distributed.global_mean_loss(run.criterion, env)
    main_rank = env.is_main
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        log = TrainLog(out, total_epochs=cfg.epochs, live=sys.stderr.isatty())
        atomic_write(out / "config.json",
                     lambda tmp: tmp.write_text(json.dumps(cfg.to_dict(), indent=2)))
    metrics: dict[str, Any] = {}
    last = cfg.stop_epoch or cfg.epochs  # <= cfg.epochs (checked); the schedule spans cfg.epochs
    for epoch in range(run.start_epoch, last + 1):
        started = time.perf_counter()
        seed_everything(cfg.seed * 100_003 + epoch)
        loader = epoch_loader(cfg, run.train_ds, epoch) if not env.enabled else \
            distributed.epoch_loader(run.train_ds, cfg.batch_size, cfg.seed * 100_003, epoch, env,
                                     cfg.workers, _worker_init)
        with log.epoch(epoch) if main_rank else _quiet() as report:
            stats = train_one_epoch(train_model, loader, criterion, run.optimizer, run.scheduler,
                                    run.scaler, device, cfg, report, epoch=epoch,
                                    distiller=run.distiller)
        stats["loss"] = distributed.mean(stats["loss"], env, device)
        stats["images_per_s"] = distributed.sum_(stats["images_per_s"], env, device)
        record = {"epoch": epoch, **stats}
        if epoch % cfg.val_every == 0 or epoch == last:
            metrics = _validate(model, run.val_ds, run.info, device, cfg, env)
            record.update(miou=metrics["miou"], pixel_acc=metrics["pixel_acc"])
            if (metrics["miou"] or 0.0) > run.best:
                run.best = metrics["miou"] or 0.0
                if main_rank:
                    save_checkpoint(out / "best.pt", model, run.spec, epoch=epoch,
                                    metrics=metrics, config=cfg.to_dict())
        record["seconds"] = time.perf_counter() - started  # train + validation wall time
        record["finished_at"] = time.time()
        if main_rank and (epoch % cfg.checkpoint_every == 0 or epoch == last):
            save_checkpoint(out / "last.pt", model, run.spec, epoch=epoch, metrics=metrics,
                            config=cfg.to_dict(), **run.resume_state(),
                            world_size=env.world_size)
        # after last.pt: with checkpoint_every 1 a logged epoch is always a resumable one; a
        # resumed epoch's record replaces its first try in the log's readers
        if main_rank:
            log.write(record)
    if main_rank:
        log.plot()
    distributed.close(env)
    return {"best_miou": run.best, "last": metrics, "out_dir": str(out),
            "epochs": cfg.epochs, "finished": not math.isnan(run.best)}
