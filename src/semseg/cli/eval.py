"""``semseg eval``: score a model on a dataset split at full mask resolution."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from semseg.cli.args import (
    add_data_args,
    add_device_argument,
    add_runtime_argument,
    parse_device,
    parse_size,
)
from semseg.threads import add_threads_argument


def _scales(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        msg = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg eval``."""
    p = sub.add_parser("eval", help="evaluate a checkpoint or pretrained model on a dataset split")
    p.add_argument("model", help="checkpoint (.pt/.safetensors) or pretrained name, e.g. default")
    add_data_args(p, "val", "split to evaluate")
    p.add_argument("--tta", action="store_true", help="average with the horizontal flip")
    p.add_argument("--scales", type=_scales, default=(1.0,),
                   help="multi-scale TTA, e.g. 0.75,1,1.25")
    p.add_argument("--input-size", metavar="HxW", default=None,
                   help="network input HxW overriding the model's own (or 'native': none)")
    p.add_argument("--window", metavar="HxW",
                   help="sliding-window tile size, e.g. 512x512 (overrides the input size)")
    p.add_argument("--overlap", type=float, default=1 / 3,
                   help="sliding-window overlap, a fraction of the tile (default 1/3)")
    p.add_argument("--boundary-tolerance", type=int, default=2,
                   help="boundary F-score tolerance in pixels (default 2; -1 disables)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--label-map", metavar="NAME",
                   help="score in the model's label set NAME (e.g. camvid): ground truth is "
                        "mapped into it with semseg.data.label_maps; unmatched classes ignored")
    p.add_argument("--map-predictions", action="store_true",
                   help="score in the dataset's label set: the model's class probabilities are "
                        "summed into it with semseg.data.label_maps (e.g. a Cityscapes model "
                        "on CamVid)")
    add_device_argument(p)
    add_threads_argument(p)
    add_runtime_argument(p)
    p.add_argument("--json", dest="json_path", help="write the full report as JSON here")
    p.add_argument("--confusion-png", help="write the row-normalized confusion matrix PNG here")
    p.set_defaults(func=run)


def _dataset(args: argparse.Namespace, info):
    from torch.utils.data import Subset

    from semseg.data import get_format
    from semseg.data.transforms import eval_transform
    from semseg.errors import ConfigError, DatasetLayoutError

    splits = get_format(args.format).splits(args.data, palette=args.palette)
    sources = {s.split: s for s in splits}
    if args.split not in sources:
        have = ", ".join(sources)
        raise DatasetLayoutError(f"{args.data}: split {args.split!r} not found; have {have}")
    source = sources[args.split]
    transform = eval_transform  # uint8 image, native mask; evaluate() preprocesses
    if args.map_predictions:
        _check_prediction_map(info, source.info)
    elif args.label_map:
        transform = _mask_remapper(transform, source.info.name, args.label_map, info)
    elif tuple(source.info.classes) != tuple(info.classes):
        raise ConfigError(
            f"model classes {list(info.classes)} differ from dataset classes "
            f"{list(source.info.classes)}; evaluate across label sets with --label-map"
        )
    ds = source.dataset(transform)
    return (Subset(ds, range(min(args.limit, len(ds)))) if args.limit else ds), source.info


def _check_prediction_map(model_info, data_info) -> None:
    """A table from the model's label set to the dataset's must exist (fails before loading)."""
    from semseg.data import DATASET_INFOS
    from semseg.data.label_maps import lookup_table
    from semseg.errors import ConfigError

    known = DATASET_INFOS.get(model_info.name)
    if known is None or tuple(known.classes) != tuple(model_info.classes):
        raise ConfigError(f"--map-predictions: the model's classes {list(model_info.classes)} "
                          "are not a known label set")
    lookup_table(model_info.name, data_info.name)


def _mask_remapper(transform, from_name: str, to_name: str, info):
    """Wrap an eval transform so masks go from label set ``from_name`` to ``to_name``."""
    from semseg.data import DATASET_INFOS
    from semseg.data.label_maps import lookup_table, remap
    from semseg.errors import ConfigError

    lookup_table(from_name, to_name)  # unknown names or a missing table fail before loading
    if tuple(DATASET_INFOS[to_name].classes) != tuple(info.classes):
        raise ConfigError(f"--label-map {to_name}: the model's classes {list(info.classes)} are "
                          f"not that label set's {list(DATASET_INFOS[to_name].classes)}")

    def apply(image, mask):
        x, y = transform(image, mask)
        return x, remap(y, from_name, to_name)  # classes without a counterpart become ignore

    return apply


def save_confusion_png(matrix, classes, path: str) -> None:
    """Row-normalized confusion matrix (rows: ground truth) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from semseg.fileio.images import atomic_write

    m = np.asarray(matrix, dtype=np.float64)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1 + 0.55 * n, 1 + 0.5 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=60, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    for i in range(n):
        for j in range(n):
            if norm[i, j] >= 0.01:
                ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _print_table(scores, boundary, classes) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="per-class scores (%)")
    for col in ("class", "IoU", "Acc", "Dice") + (("BF",) if boundary is not None else ()):
        table.add_column(col, justify="left" if col == "class" else "right")
    bf = boundary.class_scores() if boundary is not None else None
    for i, row in enumerate(scores.table(classes)):
        extra = ()
        if bf is not None:
            extra = (f"{100 * bf[i]:.1f}" if i < len(bf) and bf[i] == bf[i] else
                     f"{100 * boundary.compute().mean:.1f}" if i == len(bf) else "n/a",)
        table.add_row(*row, *extra)
    console = Console()
    console.print(table)
    console.print(f"mIoU {100 * scores.miou:.2f}  pixel acc {100 * scores.pixel_acc:.2f}  "
                  f"mean acc {100 * scores.mean_acc:.2f}  fwIoU {100 * scores.fwiou:.2f}")


def run(args: argparse.Namespace) -> int:
    """Evaluate and report."""
    args.device = parse_device(args.device)  # 'auto' resolved; CUDA checked before any work
    if args.format == "semantickitti":  # LiDAR scans: point-wise IoU (semseg.lidar)
        from semseg.lidar.commands import run_eval

        return run_eval(args)
    from rich.progress import Progress
    from torch.utils.data import DataLoader

    from semseg.inference.segmenter import InferenceOptions
    from semseg.metrics.evaluate import evaluate
    from semseg.threads import set_threads

    set_threads(args.threads)
    if args.map_predictions and args.label_map:
        from semseg.errors import ConfigError

        raise ConfigError("--map-predictions and --label-map are opposite directions; use one")
    from semseg.hub import loading

    model, spec = loading.load(args.model, device=args.device)
    if args.runtime == "onnxruntime":  # the same network, exported and run by ONNX Runtime
        from semseg.export.runtime import OnnxModel

        model = OnnxModel(model, spec, device=args.device)
    ds, data_info = _dataset(args, spec.info)
    input_size = spec.input_size if args.input_size is None else (
        None if args.input_size == "native" else parse_size(args.input_size, "--input-size"))
    window = parse_size(args.window, "--window") if args.window else None
    options = InferenceOptions(input_size=input_size, scales=args.scales, flip=args.tta,
                               window=window, overlap=args.overlap)
    info = data_info if args.map_predictions else spec.info  # scored in the dataset's classes
    tol = None if args.boundary_tolerance < 0 else args.boundary_tolerance
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"eval {args.split}", total=len(ds))
        cm, bf = evaluate(model, DataLoader(ds, batch_size=1), spec.info, options,
                          device=args.device,
                          label_map=data_info if args.map_predictions else None,
                          boundary_tolerance=tol, progress=lambda n: bar.advance(task, n))
    head = {"model": args.model, "data": str(args.data), "split": args.split,
            "images": len(ds), "tta_flip": args.tta, "scales": list(args.scales),
            "input_size": list(input_size) if input_size else None,
            "label_map": args.label_map,
            "predictions_mapped": f"{spec.info.name}->{info.name}" if args.map_predictions
            else None}
    if args.window:  # only then, so reports without a window keep their fields
        head.update(window=list(window), overlap=args.overlap)
    write_report(head, cm, bf, info.classes, tol, args.json_path, args.confusion_png)
    return 0


def write_report(head: dict, cm, bf, classes, tol: int | None, json_path: str | None,
                 confusion_png: str | None) -> dict:
    """Print the score table; write the JSON report (``head`` + scores) and the confusion PNG.

    Shared by ``semseg eval`` and ``semseg score``: both report the same numbers the same way.
    """
    scores = cm.compute()
    _print_table(scores, bf, classes)
    report = {**head, **scores.to_dict(classes), "confusion_matrix": cm.matrix.cpu().tolist()}
    if bf is not None:
        report["boundary_f"] = bf.compute().mean
        report["boundary_tolerance_px"] = tol
    if json_path:
        from semseg.fileio.images import atomic_write

        atomic_write(json_path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
    if confusion_png:
        save_confusion_png(cm.matrix.cpu().numpy(), classes, confusion_png)
    return report
