"""Segmentation metrics: a streaming confusion matrix and pure functions of it.

Every region score comes from one (C, C) int64 confusion matrix (rows = ground truth, columns =
prediction), so batches, processes and machines combine exactly by summing matrices. Pixels whose
target is `ignore_index` (or outside 0..C-1) are not counted at all. A class absent from both
ground truth and prediction scores NaN and is left out of every mean; a class present in only one
of them scores IoU 0. Boundary metrics live in `semseg.metrics.boundary` and are re-exported here.

Example:
    >>> import torch
    >>> from semseg.metrics.confusion import ConfusionMatrix
    >>> cm = ConfusionMatrix(num_classes=3, ignore_index=255)
    >>> target = torch.tensor([[0, 0, 1], [2, 2, 255]])      # (H, W), 255 = ignore
    >>> logits = torch.zeros(1, 3, 2, 3)                     # (N, C, H, W)
    >>> logits[0, 0] = 1.0                                   # predict class 0 everywhere
    >>> cm.update(logits, target[None])                      # or class ids (N, H, W)
    >>> cm.reduce_()                                         # sums over processes if distributed
    >>> scores = cm.compute()
    >>> scores.miou, scores.pixel_acc                        # IoU 2/5, 0, 0; 2 of 5 pixels right
    (0.13333333333333333, 0.4)
    >>> scores.to_dict(["sky", "road", "car"])["class_iou"]["sky"]
    0.4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from semseg.metrics.boundary import TOLERANCE_UNITS, BoundaryFScore, BoundaryIoU, BoundaryScores
from semseg.metrics.scoring import class_ids, json_float, nanmean, per_class_dict, ratio

__all__ = [
    "TABLE_COLUMNS",
    "TOLERANCE_UNITS",
    "BoundaryFScore",
    "BoundaryIoU",
    "BoundaryScores",
    "ConfusionMatrix",
    "SegmentationScores",
    "class_accuracy",
    "class_dice",
    "class_iou",
    "frequency_weighted_iou",
    "mean_class_accuracy",
    "mean_iou",
    "pixel_accuracy",
]

TABLE_COLUMNS = ("class", "IoU %", "Acc %", "Dice %")

MatrixLike = torch.Tensor | np.ndarray


# ---- pure functions of a confusion matrix ------------------------------------------------------


def _as_matrix(matrix: MatrixLike) -> np.ndarray:
    """Confusion matrix as a float64 (C, C) numpy array."""
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {m.shape}")
    return m


def class_iou(matrix: MatrixLike) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for classes absent from both GT and prediction."""
    m = _as_matrix(matrix)
    tp = np.diag(m)
    return ratio(tp, m.sum(axis=1) + m.sum(axis=0) - tp)


def mean_iou(matrix: MatrixLike) -> float:
    """Mean IoU over classes that are not NaN."""
    return nanmean(class_iou(matrix))


def pixel_accuracy(matrix: MatrixLike) -> float:
    """Share of counted pixels predicted correctly; NaN for an empty matrix."""
    m = _as_matrix(matrix)
    return float(ratio(np.trace(m), m.sum()))


def class_accuracy(matrix: MatrixLike) -> np.ndarray:
    """Per-class accuracy (recall) = TP / GT pixels; NaN for classes absent from GT."""
    m = _as_matrix(matrix)
    return ratio(np.diag(m), m.sum(axis=1))


def mean_class_accuracy(matrix: MatrixLike) -> float:
    """Mean per-class accuracy over classes present in the ground truth."""
    return nanmean(class_accuracy(matrix))


def frequency_weighted_iou(matrix: MatrixLike) -> float:
    """IoU averaged with ground-truth pixel frequencies as weights; NaN for an empty matrix."""
    m = _as_matrix(matrix)
    gt = m.sum(axis=1)
    total = gt.sum()
    if total == 0:
        return float("nan")
    present = gt > 0  # every class with GT pixels has a defined IoU; the rest weigh 0
    return float(np.sum(gt[present] / total * class_iou(m)[present]))


def class_dice(matrix: MatrixLike) -> np.ndarray:
    """Per-class Dice (= F1) = 2 TP / (GT + predicted pixels); NaN when absent from both."""
    m = _as_matrix(matrix)
    return ratio(2 * np.diag(m), m.sum(axis=1) + m.sum(axis=0))


# ---- scores ------------------------------------------------------------------------------------


def _percent(value: float) -> str:
    """Format a [0, 1] score as a percentage for tables; "n/a" for NaN."""
    return "n/a" if np.isnan(value) else f"{100 * value:.2f}"


@dataclass(frozen=True)
class SegmentationScores:
    """All region scores of one confusion matrix; NaN marks classes absent from GT and pred."""

    miou: float
    pixel_acc: float
    mean_acc: float
    fwiou: float
    mdice: float
    class_iou: tuple[float, ...]
    class_acc: tuple[float, ...]
    class_dice: tuple[float, ...]
    num_pixels: int

    @classmethod
    def from_matrix(cls, matrix: MatrixLike) -> SegmentationScores:
        """Compute all scores of a (C, C) confusion matrix (rows = GT, columns = prediction)."""
        m = _as_matrix(matrix)
        return cls(
            miou=mean_iou(m),
            pixel_acc=pixel_accuracy(m),
            mean_acc=mean_class_accuracy(m),
            fwiou=frequency_weighted_iou(m),
            mdice=nanmean(class_dice(m)),
            class_iou=tuple(float(v) for v in class_iou(m)),
            class_acc=tuple(float(v) for v in class_accuracy(m)),
            class_dice=tuple(float(v) for v in class_dice(m)),
            num_pixels=int(m.sum()),
        )

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, object]:
        """JSON-safe dict: NaN becomes None, per-class dicts keyed by class name ("0".. if None)."""
        return {
            "miou": json_float(self.miou),
            "pixel_acc": json_float(self.pixel_acc),
            "mean_acc": json_float(self.mean_acc),
            "fwiou": json_float(self.fwiou),
            "mdice": json_float(self.mdice),
            "num_pixels": self.num_pixels,
            "class_iou": per_class_dict(self.class_iou, class_names),
            "class_acc": per_class_dict(self.class_acc, class_names),
            "class_dice": per_class_dict(self.class_dice, class_names),
        }

    def table(self, class_names: Sequence[str]) -> list[tuple[str, str, str, str]]:
        """Rows (class, IoU %, Acc %, Dice %) per class, then a "mean" row; see TABLE_COLUMNS."""
        if len(class_names) != len(self.class_iou):
            raise ValueError(
                f"got {len(class_names)} class names for {len(self.class_iou)} classes"
            )
        rows = [
            (str(name), _percent(iou), _percent(acc), _percent(dice))
            for name, iou, acc, dice in zip(
                class_names, self.class_iou, self.class_acc, self.class_dice, strict=True
            )
        ]
        rows.append(("mean", _percent(self.miou), _percent(self.mean_acc), _percent(self.mdice)))
        return rows


# ---- streaming confusion matrix ----------------------------------------------------------------


class ConfusionMatrix:
    """Streaming (C, C) int64 confusion matrix: rows are ground truth, columns are predictions."""

    def __init__(
        self, num_classes: int, ignore_index: int = 255, device: torch.device | str | None = None
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros((num_classes, num_classes), dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: pred is class ids (N, H, W)/(H, W) or logits (N, C, H, W)."""
        ids, target, valid = class_ids(pred, target, self.num_classes, self.ignore_index)
        if self.matrix.device != ids.device:  # the matrix follows the data (CPU or CUDA)
            self.matrix = self.matrix.to(ids.device)
        n = self.num_classes
        index = n * target[valid] + ids[valid]  # (V,) one bin per (gt, pred) pair
        self.matrix += torch.bincount(index, minlength=n * n).reshape(n, n)

    def reset(self) -> None:
        """Zero the matrix."""
        self.matrix.zero_()

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix over the same classes (e.g. from another data shard)."""
        if other.num_classes != self.num_classes:
            raise ValueError(
                f"cannot merge a confusion matrix of {other.num_classes} classes into one of "
                f"{self.num_classes}"
            )
        self.matrix += other.matrix.to(self.matrix.device)

    def reduce_(self) -> None:
        """Sum the matrix over all processes when torch.distributed is initialized (else no-op)."""
        # NCCL needs the matrix on the GPU: update it with CUDA tensors or pass device="cuda".
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.matrix)

    def compute(self) -> SegmentationScores:
        """All region scores of the pixels seen so far."""
        return SegmentationScores.from_matrix(self.matrix)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"pixels={int(self.matrix.sum())})"
        )
