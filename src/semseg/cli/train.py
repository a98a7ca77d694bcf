"""``semseg train``: train a model. Every ``TrainConfig`` field is a flag ``--field-name``.

The flags are generated from the dataclass (help text from each field's ``help``); a flag that
is not given leaves the config file's value or the field's default. Values are converted to the
field's type by ``semseg.training.config.make_config``, so ``--batch-size 8.5`` is a one-line
error naming
the option, like the same value in a config file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from typing import Any

from semseg.cli.args import parse_device
from semseg.threads import add_threads_argument, set_threads
from semseg.training.config import TrainConfig

ALIASES = {  # older or shorter spellings that README, docs and scripts use
    "out_dir": ("-o",),
    "pretrained_backbone": ("--pretrained",),  # also gives --no-pretrained
    "dist_timeout_s": ("--dist-timeout",),
}
SECTIONS = {"data": "data", "arch": "model", "epochs": "optimization", "device": "runtime",
            "sync_bn": "distributed (batch_size is the global batch, split over the processes)"}


def _shown(value: Any) -> str:
    """A default as one would type it: 360x480, 0.5,2.0, {} or none."""
    if isinstance(value, tuple):
        return ("x" if all(isinstance(v, int) for v in value) else ",").join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return "none" if value is None else str(value)


def _metavar(hint: Any) -> str | None:
    """N, X, HxW, MIN,MAX or JSON by type; None (argparse's own, e.g. DATA) for strings."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if type(None) in typing.get_args(hint) and len(args) == 1:  # X | None
        hint = args[0]
    origin = typing.get_origin(hint)
    if origin is tuple:
        return "HxW" if typing.get_args(hint)[0] is int else "MIN,MAX"
    return {int: "N", float: "X", dict: "JSON"}.get(origin or hint)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainConfig`` field, grouped like the dataclass; every default is None
    ("not given"), the field's own default is shown in the help."""
    hints = typing.get_type_hints(TrainConfig)
    group = parser
    for f in dataclasses.fields(TrainConfig):
        if f.name in SECTIONS:
            group = parser.add_argument_group(SECTIONS[f.name])
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        text = f"{f.metadata['help']} (default {_shown(default)})".replace("%", "%%")
        aliases = ALIASES.get(f.name, ())
        flags = (*[a for a in aliases if not a.startswith("--")], "--" + f.name.replace("_", "-"),
                 *[a for a in aliases if a.startswith("--")])
        if f.name == "threads":  # the option every computing command shares
            add_threads_argument(group)
        elif hints[f.name] is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                               help=text)
        else:
            group.add_argument(*flags, dest=f.name, metavar=_metavar(hints[f.name]), help=text)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg train``."""
    p = sub.add_parser("train", help="train a segmentation model (resumable)",
                       description="Train a segmentation model. Options override the --config "
                       "file, which overrides the defaults; optional fields take 'none'.")
    p.add_argument("--config", help="YAML/TOML/JSON file of TrainConfig fields")
    p.add_argument("--resume", action="store_true", help="continue OUT_DIR/last.pt exactly")
    p.add_argument("--nproc", type=int, metavar="N",
                   help="train in N data-parallel processes on this machine (launches "
                   "torchrun; --batch-size is the global batch, split over them)")
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the config and train."""
    from semseg.training.config import make_config
    from semseg.training.train import main

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    cfg = make_config(args.config, **overrides)
    parse_device(cfg.device)  # CUDA asked for on a machine without it: fail before any work
    from semseg.models.registry import check_model_kwargs

    check_model_kwargs(cfg.arch, cfg.arch_kwargs)  # also before torchrun or a LiDAR run starts
    set_threads(cfg.threads)  # None: default_threads(), so a shared machine is not oversubscribed
    if cfg.format == "semantickitti":  # LiDAR scans: range images, SalsaNext's loss
        from semseg.lidar.commands import run_train

        return run_train(cfg, resume=args.resume)
    if args.nproc is not None:
        from semseg.training.distributed import launch

        return launch(cfg, args.nproc, resume=args.resume)
    summary = main(cfg, resume=args.resume)
    from semseg.training.distributed import env_from_environ

    if not env_from_environ().is_main:  # under torchrun only rank 0 reports
        return 0
    print(f"best val mIoU {100 * summary['best_miou']:.2f} -> {summary['out_dir']}/best.pt")
    return 0
