"""Fit SalsaNext to the one real SemanticKITTI scan and draw ground truth against prediction.

Run from the repository root (docs/lidar.md quotes its output; the scan lives in ../shared):

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/lidar_overfit.py --out runs/lidar-overfit

This shows the pipeline (projection, loss, KNN back to points, outputs) can learn, nothing about
generalisation: the scan is scored on its own points. The recipe is the slow test's
(tests/lidar/test_overfit.py): a 64 x 512 range image (the paper's 64 x 2048 costs 4x more per
step on a CPU), AdamW 3e-3, no class weights, no augmentation. It writes OUT/last.pt,
docs/lidar_overfit.json and the bird's-eye picture docs/images/lidar_sample.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from semseg.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "semantickitti-sample"


def overfit_config(out_dir: str, epochs: int = 70, width: int = 512) -> TrainConfig:
    """The recipe of the slow test and of this script."""
    return TrainConfig(
        data=str(SAMPLE), format="semantickitti", arch="salsanext", train_split="train",
        val_split="train", epochs=epochs, batch_size=1, eval_size=(64, width), hflip=False,
        class_weighting="none", optimizer="adamw", lr=3e-3, weight_decay=0.0, warmup_epochs=0,
        val_every=epochs, workers=0, threads=1, device="cpu", seed=0, out_dir=out_dir)


def score(checkpoint: Path) -> dict:
    """Point accuracy and mIoU on the scan's own points, with and without the KNN vote."""
    import torch

    from semseg.data import semantickitti as kitti
    from semseg.lidar.commands import load_range_model
    from semseg.lidar.inference import predict_scan

    model, _, rs = load_range_model(str(checkpoint))
    item = kitti.split_scans(SAMPLE, "train")[0]
    points, labels = kitti.read_labelled(item)
    from semseg.lidar.projection import ProjectionConfig, project

    out: dict = {"points": len(points), "labelled_points": int((labels != 255).sum()),
                 "filled_pixels": {f"64x{w}": int(project(points, ProjectionConfig(64, w))
                                                  .mask.sum()) for w in (2048, 512)}}
    for knn in (False, True):
        pred = predict_scan(model, points, rs.projection, rs.mean, rs.std, knn=knn)
        valid = labels != kitti.INFO.ignore_index
        hidden = np.ones(len(points), bool)
        hidden[pred.projection.point_index[pred.projection.mask]] = False
        from semseg.metrics.confusion import ConfusionMatrix

        cm = ConfusionMatrix(kitti.INFO.num_classes)
        cm.update(torch.from_numpy(pred.labels), torch.from_numpy(labels.astype(np.int64)))
        ok = pred.labels == labels
        out["knn" if knn else "no_knn"] = {
            "point_acc": float(ok[valid].mean()), "miou": float(cm.compute().miou),
            "hidden_points": int(hidden.sum()),
            "hidden_point_acc": float(ok[valid & hidden].mean())}
        if knn:
            out["_pred"] = pred.labels
    return out, points, labels


def draw(points: np.ndarray, gt: np.ndarray, pred: np.ndarray, path: Path) -> None:
    """Bird's-eye views, ground truth | prediction, in the SemanticKITTI colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semseg.data.semantickitti import INFO
    from semseg.fileio.images import atomic_write

    palette = np.vstack([INFO.palette_array(), [[200, 200, 200]]]) / 255.0  # grey: ignored
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
    near = np.abs(points[:, :2]).max(axis=1) < 40  # the central 80 m x 80 m
    for ax, ids, title in ((axes[0], gt, "ground truth"), (axes[1], pred, "SalsaNext (fit to "
                                                                        "this scan)")):
        colors = palette[np.where(ids < INFO.num_classes, ids, INFO.num_classes)]
        ax.scatter(points[near, 0], points[near, 1], c=colors[near], s=0.15, linewidths=0)
        ax.set_aspect("equal")
        ax.set_xlim(-40, 40)
        ax.set_ylim(-40, 40)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("SemanticKITTI 00/000000, bird's-eye view (80 m x 80 m), grey = ignored")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


def main() -> None:
    from semseg.lidar.train import main as train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/lidar-overfit")
    parser.add_argument("--epochs", type=int, default=70)
    parser.add_argument("--skip-train", action="store_true",
                        help="score and draw OUT/last.pt of an earlier run")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.skip_train:
        train(overfit_config(args.out, args.epochs))
    seconds = time.perf_counter() - started
    result, points, labels = score(Path(args.out) / "last.pt")
    pred = result.pop("_pred")
    draw(points, labels, pred, REPO / "docs" / "images" / "lidar_sample.png")
    result.update(epochs=args.epochs, range_image=[64, 512],
                  command="PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/lidar_overfit.py")
    report = REPO / "docs" / "lidar_overfit.json"
    if not args.skip_train:
        result["train_seconds"] = round(seconds, 1)
    elif report.is_file():  # keep the training time of the run that made the checkpoint
        result["train_seconds"] = json.loads(report.read_text()).get("train_seconds")
    report.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
