"""``TrainConfig``: every training knob, with defaults; files and CLI flags map onto it.

A YAML or TOML file holds a flat mapping of field names; unknown keys are rejected.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from semseg.device import DEVICE_NAMES, check_device_name
from semseg.errors import ConfigError


def _opt(default: Any, help: str) -> Any:
    """A ``TrainConfig`` field with its ``help`` (shown by ``semseg train --help``)."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Training configuration (the defaults train the shipped CamVid model)."""

    # data
    data: str = _opt("../shared/data/camvid", "dataset root")
    format: str = _opt("camvid", "dataset format, e.g. camvid or folder (see semseg.data.FORMATS)")
    palette: str | None = _opt(None, "folder format: palette file or built-in dataset name")
    train_split: str = _opt("train", "split to train on; several joined by +, e.g. train+val")
    val_split: str = _opt("val", "split to validate on")
    limit_train: int | None = _opt(None, "use only the first N training images (overfit tests)")
    limit_val: int | None = _opt(None, "use only the first N validation images")
    train_masks: str | None = _opt(None, "folder of <stem>.png index masks replacing the "
                                   "training split's masks (e.g. PCAMs pseudo-labels from "
                                   "`semseg points pseudo`)")
    supervision: str = _opt("full", "full (dense masks) | points (clicks, see semseg.points)")
    clicks: str | None = _opt(None, "points: folder of <stem>.json click files; none: simulated")
    click_protocol: str = _opt("1-per-class", "1-per-class | all-instances | n-per-class")
    point_loss: str = _opt("bearman", "points: bearman (What's the Point) | pcam (PCAMs stage 1)")
    # model
    arch: str = _opt("litefpn", "model name (see `semseg models`)")
    arch_kwargs: dict[str, Any] = field(default_factory=dict, metadata={
        "help": 'constructor arguments of the model as JSON, e.g. \'{"decoder_channels": 64}\''})
    pretrained_backbone: bool = _opt(True, "ImageNet init where the architecture supports it")
    init: str | None = _opt(None, "pretrained name or .pt/.safetensors file: the same "
                            "architecture is initialised whole (classifier re-indexed across "
                            "label sets), another one where tensor names and shapes match "
                            "(e.g. an encoder); see semseg.training.transfer")
    graph_head: str | None = _opt(None, "knn3d: the 3DGNN head over `arch` (semseg.models.gnn3d)")
    # optimization
    epochs: int = _opt(100, "training epochs")
    stop_epoch: int | None = _opt(None, "end the run after this epoch (validated, saved); the lr "
                                        "schedule still spans `epochs`")
    batch_size: int = _opt(8, "images per optimizer step (under torchrun: the global batch)")
    crop_size: tuple[int, int] = _opt((360, 480), "HxW random crop after random scaling")
    scale_range: tuple[float, float] = _opt((0.5, 2.0), "MIN,MAX random scale factors")
    color_jitter: float = _opt(0.3, "brightness/contrast/saturation jitter strength")
    hflip: bool = _opt(True, "random horizontal flips (off for laterality-sensitive data)")
    eval_size: tuple[int, int] | None = _opt(None, "HxW model input at validation and "
                                             "inference; none: native resolution (logits are "
                                             "resized back to the mask size either way)")
    optimizer: str = _opt("adamw", "adamw | sgd")
    lr: float = _opt(2e-3, "peak learning rate")
    weight_decay: float = _opt(1e-4, "weight decay (not on norm layers and biases)")
    momentum: float = _opt(0.9, "sgd only: Nesterov momentum")
    warmup_epochs: float = _opt(1.0, "epochs of linear warm-up, then poly decay")
    poly_power: float = _opt(0.9, "exponent of the poly learning-rate decay")
    class_weighting: str = _opt("enet", "enet (1/ln(1.02 + p)) | none")
    ohem_thresh: float | None = _opt(None, "OHEM: keep pixels with p_true below this (e.g. 0.7)")
    loss: str = _opt("ce", "ce | dice | lovasz | focal, or a weighted sum such as "
                     "ce+0.5*lovasz; class weights apply to ce and focal, ohem_thresh to ce "
                     "(see semseg.training.losses.build_loss)")
    focal_gamma: float = _opt(2.0, "focusing exponent of the focal term (0: cross-entropy)")
    teacher: str | None = _opt(None, "knowledge distillation: pretrained name or checkpoint "
                               "file of a trained model with the dataset's classes; its "
                               "per-pixel soft predictions are learnt too (see "
                               "semseg.training.distill)")
    distill_weight: float = _opt(1.0, "weight of the distillation term added to the loss")
    distill_temperature: float = _opt(2.0, "softmax temperature of the distillation term")
    # runtime
    device: str = _opt("auto", f"where the network runs: {DEVICE_NAMES}")
    amp: bool = _opt(True, "mixed precision, CUDA only")
    channels_last: bool = _opt(True, "channels-last memory format, CUDA only")
    workers: int = _opt(2, "data-loading worker processes")
    seed: int = _opt(0, "seed of initialisation, shuffling and augmentation")
    val_every: int = _opt(1, "epochs between validations (the last epoch always validates)")
    checkpoint_every: int = _opt(1, "epochs between last.pt saves (the last epoch always saves)")
    steps_per_epoch: int | None = _opt(None, "cap optimizer steps per epoch (smoke tests)")
    out_dir: str = _opt("runs/camvid-litefpn", "run folder (checkpoints, logs, curves)")
    threads: int | None = _opt(None, "torch CPU threads (none: semseg.threads.default_threads() "
                               "in `semseg train`; torch's default when calling train.main)")
    # distributed (torchrun): batch_size above is the global batch, split over the processes
    sync_bn: bool = _opt(False, "SyncBatchNorm across processes (CUDA only)")
    dist_timeout_s: float = _opt(600.0, "seconds a process waits for the others (a collective "
                                 "waiting longer fails the job)")

    def __post_init__(self) -> None:
        self.crop_size = tuple(int(v) for v in self.crop_size)  # type: ignore[assignment]
        self.scale_range = tuple(float(v) for v in self.scale_range)  # type: ignore[assignment]
        if self.eval_size is not None:
            self.eval_size = tuple(int(v) for v in self.eval_size)  # type: ignore[assignment]
        checks = {
            "optimizer": self.optimizer in ("adamw", "sgd"),
            "class_weighting": self.class_weighting in ("enet", "none"),
            "supervision": self.supervision in ("full", "points"),
            "click_protocol": self.click_protocol in ("1-per-class", "all-instances",
                                                      "n-per-class"),
            "point_loss": self.point_loss in ("bearman", "pcam"),
            "epochs": self.epochs >= 1,
            "stop_epoch": self.stop_epoch is None or 1 <= self.stop_epoch <= self.epochs,
            "batch_size": self.batch_size >= 1,
            "val_every": self.val_every >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "lr": self.lr > 0,
            "crop_size": len(self.crop_size) == 2 and min(self.crop_size) >= 8,
            "dist_timeout_s": self.dist_timeout_s > 0,
            "graph_head": self.graph_head in (None, "knn3d"),
        }
        checks["focal_gamma"] = self.focal_gamma >= 0
        checks["distill_weight"] = self.distill_weight >= 0
        checks["distill_temperature"] = self.distill_temperature > 0
        check_device_name(self.device)
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid {name}: {getattr(self, name)!r}")
        from semseg.training.losses import parse_loss  # imported here: config stays light to import

        parse_loss(self.loss)  # raises ConfigError naming the bad term

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def config_field_names() -> list[str]:
    """Names of every ``TrainConfig`` field."""
    return [f.name for f in fields(TrainConfig)]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a flat YAML/TOML/JSON mapping of TrainConfig fields; unknown keys raise."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:
        raise ConfigError(f"{p}: cannot parse ({exc})".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of option names to values")
    unknown = sorted(set(data) - set(config_field_names()))
    if unknown:
        raise ConfigError(f"{p}: unknown option(s) {unknown}; valid: {config_field_names()}")
    return data


def _coerce_scalar(kind: type, value: Any) -> Any:
    """``value`` as ``kind`` (int, float, str, bool, dict), or raise ValueError; strings, as
    options give them, are parsed ("true", "8", "2e-3", a JSON object)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value)  # YAML 1.1 reads 2e-3 as a string; "abc" raises ValueError
    elif kind is dict and isinstance(value, str):  # a command-line option: JSON
        value = json.loads(value)  # JSONDecodeError is a ValueError
        if isinstance(value, dict):
            return value
    elif isinstance(value, kind):
        return value
    raise ValueError(value)


def coerce_field(name: str, value: Any, source: str | None = None) -> Any:
    """``value`` converted to the type of ``TrainConfig.name``; ``ConfigError`` naming the file
    (``source``; None: a command-line option), field, value and expected type when it cannot be
    (``batch_size: 8.5``, ``lr: fast``)."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    if optional and (value is None or str(value).lower() in ("none", "null")):
        return None  # "none" is how an option clears a field (--eval-size none)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        hint, origin = args[0], typing.get_origin(args[0])
        args = list(typing.get_args(hint))
    expected = getattr(hint, "__name__", str(hint)) + (" or null" if optional else "")
    try:
        if origin is tuple:
            parts = re.split(r"[x,]", value.lower()) if isinstance(value, str) else value
            if not isinstance(parts, list | tuple) or len(parts) != len(args):
                raise ValueError(value)
            return tuple(_coerce_scalar(a, v) for a, v in zip(args, parts, strict=True))
        return _coerce_scalar(origin or hint, value)
    except (ValueError, TypeError):
        if origin is tuple:
            expected = f"list of {len(args)} {args[0].__name__} values"
        where = f"{source}: {name}" if source else f"option --{name.replace('_', '-')}"
        raise ConfigError(f"{where}: {value!r} is not a valid {expected}") from None


def make_config(file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A config from defaults, then the file's values, then explicit overrides (not None).

    Every value is converted to its field's type (``lr: 2e-3`` in YAML is 0.002); a value that
    does not fit raises ``ConfigError`` naming the file or option, the field and the value.
    """
    values: dict[str, Any] = {k: coerce_field(k, v, str(file))
                              for k, v in (load_config_file(file) if file else {}).items()}
    values.update({k: coerce_field(k, v) for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
