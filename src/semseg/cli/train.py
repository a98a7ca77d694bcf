"""``semseg train``: train a model; flags map one-to-one onto ``TrainConfig`` fields."""

from __future__ import annotations

import argparse
import json

from semseg.errors import ConfigError
from semseg.threads import add_threads_argument, set_threads


def _size(text: str) -> tuple[int, int]:
    """'360x480' -> (360, 480) (height x width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    return h, w


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX, got {text!r}") from None
    return lo, hi


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg train``."""
    p = sub.add_parser("train", help="train a segmentation model (resumable)")
    p.add_argument("--config", help="YAML/TOML/JSON file of TrainConfig fields")
    p.add_argument("--resume", action="store_true", help="continue OUT_DIR/last.pt exactly")
    p.add_argument("--data", help="dataset root")
    p.add_argument("--format", help="dataset format (camvid, folder, ...)")
    p.add_argument("--palette", help="palette file or dataset name (folder format)")
    p.add_argument("--arch", help="model name (see `semseg models`)")
    p.add_argument("--arch-kwargs", type=json.loads, help='JSON, e.g. \'{"base_width": 32}\'')
    p.add_argument("--graph-head", choices=["knn3d"],
                   help="add the 3DGNN head (3D k-NN graph network) over --arch")
    p.add_argument("--no-pretrained", dest="pretrained_backbone", action="store_const",
                   const=False, help="do not load ImageNet weights into the encoder")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--crop-size", type=_size, help="HxW, e.g. 360x480")
    p.add_argument("--eval-size", type=_size, help="HxW model input for validation/inference")
    p.add_argument("--scale-range", type=_range, help="MIN,MAX, e.g. 0.5,2.0")
    p.add_argument("--optimizer", choices=["adamw", "sgd"])
    p.add_argument("--lr", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--class-weighting", choices=["enet", "none"])
    p.add_argument("--ohem-thresh", type=float, help="OHEM: keep pixels with p_true below this")
    p.add_argument("--loss", help="ce | dice | lovasz | focal or a weighted sum such as "
                   "'ce+0.5*lovasz' (default ce)")
    p.add_argument("--focal-gamma", type=float, help="focal loss exponent (default 2)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-amp", dest="amp", action="store_const", const=False)
    p.add_argument("--workers", type=int)
    add_threads_argument(p)
    p.add_argument("--init", metavar="MODEL",
                   help="initialise from a pretrained name or .pt/.safetensors file: the same "
                   "architecture whole (classifier re-indexed across label sets), another one "
                   "where tensor names and shapes match, e.g. deeplabv3-mnv2-voc's encoder")
    p.add_argument("--seed", type=int)
    p.add_argument("--val-every", type=int)
    p.add_argument("--checkpoint-every", type=int,
                   help="epochs between last.pt saves (default 1; the last epoch always saves)")
    p.add_argument("--steps-per-epoch", type=int, help="cap steps per epoch (smoke runs)")
    p.add_argument("--limit-train", type=int, help="use only the first N training images")
    p.add_argument("--limit-val", type=int, help="use only the first N validation images")
    p.add_argument("--train-masks", help="folder of <stem>.png masks replacing the training "
                   "masks (e.g. pseudo-labels)")
    p.add_argument("--supervision", choices=["full", "points"],
                   help="points: train from clicks (semseg.points)")
    p.add_argument("--clicks", help="points: folder of <stem>.json clicks (default: simulated)")
    p.add_argument("--click-protocol", choices=["1-per-class", "all-instances", "n-per-class"])
    p.add_argument("--point-loss", choices=["bearman", "pcam"])
    p.add_argument("-o", "--out-dir", help="run folder (checkpoints, logs, curves)")
    p.add_argument("--nproc", type=int, metavar="N",
                   help="train in N data-parallel processes on this machine (launches "
                   "torchrun; --batch-size is the global batch, split over them)")
    p.add_argument("--sync-bn", dest="sync_bn", action="store_const", const=True,
                   help="SyncBatchNorm across processes (CUDA only)")
    p.add_argument("--dist-timeout", dest="dist_timeout_s", type=float, metavar="S",
                   help="seconds a process waits for the others before the job fails")
    p.set_defaults(func=run)


OPTION_FIELDS = ("data", "format", "palette", "arch", "arch_kwargs", "graph_head",
                 "pretrained_backbone", "init",
                 "epochs", "batch_size", "crop_size", "eval_size", "scale_range", "optimizer", "lr",
                 "weight_decay", "warmup_epochs", "class_weighting", "ohem_thresh", "loss",
                 "focal_gamma", "device",
                 "amp", "workers", "threads", "seed", "val_every", "checkpoint_every",
                 "steps_per_epoch",
                 "limit_train", "limit_val", "out_dir", "sync_bn", "dist_timeout_s",
                 "train_masks", "supervision", "clicks", "click_protocol", "point_loss")


def run(args: argparse.Namespace) -> int:
    """Build the config and train."""
    from semseg.config import make_config
    from semseg.train import main

    overrides = {name: getattr(args, name) for name in OPTION_FIELDS}
    if args.arch_kwargs is not None and not isinstance(args.arch_kwargs, dict):
        raise ConfigError("--arch-kwargs must be a JSON object")
    cfg = make_config(args.config, **overrides)
    set_threads(cfg.threads)  # None: default_threads(), so a shared machine is not oversubscribed
    if cfg.format == "semantickitti":  # LiDAR scans: range images, SalsaNext's loss
        from semseg.lidar.commands import run_train

        return run_train(cfg, resume=args.resume)
    if args.nproc is not None:
        from semseg.distributed import launch

        return launch(cfg, args.nproc, resume=args.resume)
    summary = main(cfg, resume=args.resume)
    from semseg.distributed import env_from_environ

    if not env_from_environ().is_main:  # under torchrun only rank 0 reports
        return 0
    print(f"best val mIoU {100 * summary['best_miou']:.2f} -> {summary['out_dir']}/best.pt")
    return 0
