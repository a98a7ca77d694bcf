"""``TrainConfig``: every training knob, with defaults; files and CLI flags map onto it.

A YAML or TOML file holds a flat mapping of field names; unknown keys are rejected.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from semseg.errors import ConfigError


@dataclass
class TrainConfig:
    """Training configuration (the defaults train the shipped CamVid model)."""

    # data
    data: str = "../shared/data/camvid"  # dataset root
    format: str = "camvid"  # dataset format (see semseg.data.FORMATS)
    palette: str | None = None  # for the folder format: palette file or built-in dataset name
    train_split: str = "train"
    val_split: str = "val"
    limit_train: int | None = None  # use only the first N training samples (overfit tests)
    limit_val: int | None = None
    train_masks: str | None = None  # folder of <stem>.png index masks replacing the training
    # split's masks (e.g. PCAMs pseudo-labels from `semseg points pseudo`)
    supervision: str = "full"  # full (dense masks) | points (clicks, see semseg.points)
    clicks: str | None = None  # points: folder of <stem>.json click files; None: simulated
    click_protocol: str = "1-per-class"  # 1-per-class | all-instances | n-per-class
    point_loss: str = "bearman"  # points: bearman (What's the Point) | pcam (PCAMs stage 1)
    # model
    arch: str = "litefpn"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained_backbone: bool = True  # ImageNet init where the architecture supports it
    init: str | None = None  # pretrained name or .pt/.safetensors file: the same architecture is
    # initialised whole (classifier re-indexed across label sets), another one where names and
    # shapes match (e.g. an encoder); see semseg.transfer
    graph_head: str | None = None  # knn3d: the 3DGNN head over `arch` (semseg.models.gnn3d)
    # optimization
    epochs: int = 100
    batch_size: int = 8
    crop_size: tuple[int, int] = (360, 480)  # (H, W) random crop after random scaling
    scale_range: tuple[float, float] = (0.5, 2.0)
    color_jitter: float = 0.3
    hflip: bool = True  # random horizontal flips (off for laterality-sensitive data)
    eval_size: tuple[int, int] | None = None  # (H, W) model input at validation/inference;
    # None: native resolution. Logits are resized back to the mask size either way.
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # sgd only
    warmup_epochs: float = 1.0  # linear warm-up, then poly decay
    poly_power: float = 0.9
    class_weighting: str = "enet"  # enet (1/ln(1.02 + p)) | none
    ohem_thresh: float | None = None  # keep pixels with p_true below this (e.g. 0.7)
    loss: str = "ce"  # ce | dice | lovasz | focal, or a weighted sum such as "ce+0.5*lovasz";
    # class weights apply to ce and focal, ohem_thresh to ce (see semseg.losses.build_loss)
    focal_gamma: float = 2.0  # focusing exponent of the focal term (0: cross-entropy)
    # runtime
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True  # CUDA only
    workers: int = 2
    seed: int = 0
    val_every: int = 1  # epochs between validations (the last epoch always validates)
    checkpoint_every: int = 1  # epochs between last.pt saves (the last epoch always saves)
    steps_per_epoch: int | None = None  # cap steps per epoch (smoke tests)
    out_dir: str = "runs/camvid-litefpn"
    threads: int | None = None  # torch CPU threads (None: semseg.threads.default_threads()
    # in `semseg train`; torch's default when calling train.main directly)
    # distributed (torchrun): batch_size above is the global batch, split over the processes
    sync_bn: bool = False  # SyncBatchNorm across processes (CUDA only)
    dist_timeout_s: float = 600.0  # a collective waiting longer fails the job

    def __post_init__(self) -> None:
        self.crop_size = tuple(int(v) for v in self.crop_size)  # type: ignore[assignment]
        self.scale_range = tuple(float(v) for v in self.scale_range)  # type: ignore[assignment]
        if self.eval_size is not None:
            self.eval_size = tuple(int(v) for v in self.eval_size)  # type: ignore[assignment]
        checks = {
            "optimizer": self.optimizer in ("adamw", "sgd"),
            "class_weighting": self.class_weighting in ("enet", "none"),
            "device": self.device in ("auto", "cpu", "cuda"),
            "supervision": self.supervision in ("full", "points"),
            "click_protocol": self.click_protocol in ("1-per-class", "all-instances",
                                                      "n-per-class"),
            "point_loss": self.point_loss in ("bearman", "pcam"),
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "val_every": self.val_every >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "lr": self.lr > 0,
            "crop_size": len(self.crop_size) == 2 and min(self.crop_size) >= 8,
            "dist_timeout_s": self.dist_timeout_s > 0,
            "graph_head": self.graph_head in (None, "knn3d"),
        }
        checks["focal_gamma"] = self.focal_gamma >= 0
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid {name}: {getattr(self, name)!r}")
        from semseg.losses import parse_loss  # imported here: config stays light to import

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
    """``value`` as ``kind`` (int, float, str, bool, dict), or raise ValueError."""
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
    if value is None and optional:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        hint, origin = args[0], typing.get_origin(args[0])
        args = list(typing.get_args(hint))
    expected = getattr(hint, "__name__", str(hint)) + (" or null" if optional else "")
    try:
        if origin is tuple:
            parts = value.lower().split("x") if isinstance(value, str) else value
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
