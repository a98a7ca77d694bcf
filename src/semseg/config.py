"""``TrainConfig``: every training knob, with defaults; files and CLI flags map onto it.

A YAML or TOML file holds a flat mapping of field names; unknown keys are rejected.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
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
    threads: int | None = None  # torch CPU threads (None: torch default)

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
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid {name}: {getattr(self, name)!r}")

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


def make_config(file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """A config from defaults, then the file's values, then explicit overrides (not None)."""
    values: dict[str, Any] = load_config_file(file) if file else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
