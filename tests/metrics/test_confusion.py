"""Confusion-matrix metrics on hand-worked cases (expected values derived in the comments)."""

import doctest
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import semseg.metrics.boundary
import semseg.metrics.confusion
from semseg.metrics.confusion import (
    TABLE_COLUMNS,
    BoundaryFScore,
    ConfusionMatrix,
    SegmentationScores,
    class_accuracy,
    class_dice,
    class_iou,
    frequency_weighted_iou,
    mean_class_accuracy,
    mean_iou,
    pixel_accuracy,
)

# Hand-worked case: 4 classes, one 2x3 image, 255 = ignore.
#
#   target = 0 0 1      pred = 0 3 1
#            1 1 255           1 0 2      (the 2 sits on the ignore pixel: not counted)
#
# Five counted (gt, pred) pairs: (0,0) (0,3) (1,1) (1,1) (1,0).
#   confusion matrix (rows = gt, cols = pred)     gt sums  pred sums  TP
#     gt 0:  1 0 0 1                              2        2          1
#     gt 1:  1 2 0 0                              3        2          2
#     gt 2:  0 0 0 0                              0        0          0   absent from both -> NaN
#     gt 3:  0 0 0 0                              0        1          0   predicted only -> IoU 0
# IoU  = TP / (gt + pred - TP): 1/(2+2-1) = 1/3, 2/(3+2-2) = 2/3, NaN, 0/(0+1-0) = 0
# mIoU = (1/3 + 2/3 + 0) / 3 = 1/3                  (class 2 excluded)
# pixel accuracy = (1 + 2) / 5 = 3/5
# class accuracy = TP / gt: 1/2, 2/3, NaN, NaN  -> mean (1/2 + 2/3) / 2 = 7/12
# Dice = 2 TP / (gt + pred): 2/4 = 1/2, 4/5, NaN, 0/1 = 0 -> mean (1/2 + 4/5 + 0) / 3 = 13/30
# fwIoU = sum(gt / 5 * IoU) = 2/5 * 1/3 + 3/5 * 2/3 = 2/15 + 6/15 = 8/15
NAN = float("nan")
TARGET = torch.tensor([[0, 0, 1], [1, 1, 255]])
PRED = torch.tensor([[0, 3, 1], [1, 0, 2]])
MATRIX = [[1, 0, 0, 1], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
NAMES = ["sky", "road", "car", "sign"]


def hand_matrix() -> ConfusionMatrix:
    cm = ConfusionMatrix(num_classes=4)
    cm.update(PRED, TARGET)
    return cm


def logits_for(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits (N, C, H, W) whose argmax is `ids` (N, H, W)."""
    return torch.nn.functional.one_hot(ids, num_classes).permute(0, 3, 1, 2).float() * 5 - 1


def test_hand_worked_matrix():
    assert hand_matrix().matrix.tolist() == MATRIX
    assert hand_matrix().matrix.dtype == torch.int64


def test_hand_worked_per_class_scores():
    np.testing.assert_allclose(class_iou(MATRIX), [1 / 3, 2 / 3, NAN, 0.0])
    np.testing.assert_allclose(class_accuracy(MATRIX), [1 / 2, 2 / 3, NAN, NAN])
    np.testing.assert_allclose(class_dice(MATRIX), [1 / 2, 4 / 5, NAN, 0.0])


def test_hand_worked_summary_scores():
    assert mean_iou(MATRIX) == pytest.approx(1 / 3)
    assert pixel_accuracy(MATRIX) == pytest.approx(3 / 5)
    assert mean_class_accuracy(MATRIX) == pytest.approx(7 / 12)
    assert frequency_weighted_iou(MATRIX) == pytest.approx(8 / 15)


def test_compute_collects_every_score():
    s = hand_matrix().compute()
    assert (s.miou, s.pixel_acc, s.mean_acc) == pytest.approx((1 / 3, 3 / 5, 7 / 12))
    assert (s.fwiou, s.mdice) == pytest.approx((8 / 15, 13 / 30))
    assert s.num_pixels == 5
    np.testing.assert_allclose(s.class_iou, [1 / 3, 2 / 3, NAN, 0.0])
    np.testing.assert_allclose(s.class_acc, [1 / 2, 2 / 3, NAN, NAN])
    np.testing.assert_allclose(s.class_dice, [1 / 2, 4 / 5, NAN, 0.0])
    assert isinstance(s.class_iou, tuple)


@pytest.mark.parametrize("as_type", [np.array, torch.tensor])
def test_pure_functions_accept_numpy_and_torch(as_type):
    iou = class_iou(as_type(MATRIX))
    assert isinstance(iou, np.ndarray) and iou.dtype == np.float64
    assert isinstance(mean_iou(as_type(MATRIX)), float)


def test_non_square_matrix_rejected():
    with pytest.raises(ValueError, match=r"square .* \(2, 3\)"):
        class_iou(np.zeros((2, 3)))


def test_all_nan_means_are_nan_without_warnings():
    empty = np.zeros((3, 3), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "Mean of empty slice" warning would fail here
        s = SegmentationScores.from_matrix(empty)
    for value in (s.miou, s.pixel_acc, s.mean_acc, s.fwiou, s.mdice):
        assert math.isnan(value)
    assert s.num_pixels == 0


def test_merge_equals_matrix_of_concatenated_data():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 6, (4, 7, 9), generator=g)  # 5 = ignore below
    pred = torch.randint(0, 5, (4, 7, 9), generator=g)
    whole = ConfusionMatrix(5, ignore_index=5)
    whole.update(pred, target)
    first, second = ConfusionMatrix(5, ignore_index=5), ConfusionMatrix(5, ignore_index=5)
    first.update(pred[:1], target[:1])
    second.update(pred[1:], target[1:])
    first.merge(second)
    assert torch.equal(first.matrix, whole.matrix)
    # and the matrix is the plain count of (gt, pred) pairs on labelled pixels
    brute = np.zeros((5, 5), dtype=np.int64)
    for t, p in zip(target.flatten().tolist(), pred.flatten().tolist(), strict=True):
        if t != 5:
            brute[t, p] += 1
    assert whole.matrix.tolist() == brute.tolist()


def test_merge_rejects_other_class_count():
    with pytest.raises(ValueError, match="3 classes into one of 4"):
        hand_matrix().merge(ConfusionMatrix(3))


def test_logits_input_gives_same_matrix_as_ids():
    cm = ConfusionMatrix(4)
    cm.update(logits_for(PRED[None], 4), TARGET[None])  # (1, 4, 2, 3) logits
    assert cm.matrix.tolist() == MATRIX
    unbatched = ConfusionMatrix(4)
    unbatched.update(logits_for(PRED[None], 4)[0], TARGET)  # (4, 2, 3) logits, (2, 3) target
    assert unbatched.matrix.tolist() == MATRIX


def test_logits_with_wrong_class_count_rejected():
    with pytest.raises(ValueError, match=r"3 channels .* num_classes=4"):
        ConfusionMatrix(4).update(torch.zeros(1, 3, 2, 3), TARGET[None])


def test_ignore_index_pixels_excluded():
    # CamVid style: 11 classes, void = 11. Only the two labelled pixels count; the prediction
    # on void pixels is never looked at, even an out-of-range id like 99.
    target = torch.tensor([[11, 3], [11, 4]])
    pred = torch.tensor([[99, 3], [0, 0]])
    cm = ConfusionMatrix(11, ignore_index=11)
    cm.update(pred, target)
    assert cm.matrix.sum() == 2
    assert cm.matrix[3, 3] == 1 and cm.matrix[4, 0] == 1


def test_target_ids_outside_classes_excluded():
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(torch.tensor([0, 1, 2]), torch.tensor([0, 7, -1]))  # 7 and -1 are not classes
    assert cm.matrix.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_uint8_targets():
    cm = ConfusionMatrix(4)
    cm.update(PRED.to(torch.uint8), TARGET.to(torch.uint8))  # 255 stays 255 in uint8
    assert cm.matrix.tolist() == MATRIX


def test_reset_zeroes():
    cm = hand_matrix()
    cm.reset()
    assert cm.matrix.sum() == 0
    cm.update(PRED, TARGET)
    assert cm.matrix.tolist() == MATRIX


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 4\) does not match target of shape \(2, 3\)"):
        ConfusionMatrix(4).update(torch.zeros(2, 4, dtype=torch.long), TARGET)


@pytest.mark.parametrize("bad", [-1, 4])
def test_prediction_ids_out_of_range_rejected(bad):
    pred = PRED.clone()
    pred[0, 0] = bad
    with pytest.raises(ValueError, match=f"class id {bad} .* 0..3"):
        ConfusionMatrix(4).update(pred, TARGET)


def test_float_inputs_rejected():
    with pytest.raises(ValueError, match="target must hold integer class ids"):
        ConfusionMatrix(4).update(PRED, TARGET.float())
    with pytest.raises(ValueError, match="floating-point prediction"):
        ConfusionMatrix(4).update(PRED.float(), TARGET)


def test_num_classes_must_be_positive():
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)


def test_to_dict_is_json_safe_and_named():
    d = hand_matrix().compute().to_dict(NAMES)
    json.dumps(d, allow_nan=False)  # raises if a NaN slipped through
    iou = {"sky": pytest.approx(1 / 3), "road": pytest.approx(2 / 3), "car": None, "sign": 0.0}
    assert d["class_iou"] == iou
    assert d["class_acc"]["sign"] is None
    assert d["num_pixels"] == 5 and d["miou"] == pytest.approx(1 / 3)
    assert list(hand_matrix().compute().to_dict()["class_dice"]) == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match="3 class names for 4 classes"):
        hand_matrix().compute().to_dict(NAMES[:3])


def test_table_rows():
    rows = hand_matrix().compute().table(NAMES)
    assert len(TABLE_COLUMNS) == 4
    assert rows == [
        ("sky", "33.33", "50.00", "50.00"),
        ("road", "66.67", "66.67", "80.00"),
        ("car", "n/a", "n/a", "n/a"),
        ("sign", "0.00", "n/a", "0.00"),
        ("mean", "33.33", "58.33", "43.33"),
    ]


def test_reduce_is_noop_without_distributed():
    cm = hand_matrix()
    cm.reduce_()
    assert cm.matrix.tolist() == MATRIX


def _distributed_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    cm = ConfusionMatrix(4)
    cm.update(PRED[rank], TARGET[rank])  # rank 0 sees image row 0, rank 1 row 1
    cm.reduce_()
    square = torch.zeros(1, 16, 16, dtype=torch.long)
    square[:, 4:12, 4:12] = 1
    bf = BoundaryFScore(2, tolerance=0)
    bf.update(square if rank == 0 else torch.zeros_like(square), square)
    bf.reduce_()
    torch.save({"matrix": cm.matrix, "counts": bf.counts}, Path(out_dir) / f"{rank}.pt")
    dist.destroy_process_group()


def test_reduce_sums_over_processes(tmp_path):
    mp.spawn(_distributed_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    # 8x8 square: 28 boundary pixels (8 + 8 + 6 + 6) for class 1 and 36 (the ring around it)
    # for class 0. Rank 0 predicts it exactly; rank 1 predicts background only (no boundary).
    expected_counts = [[36, 28], [36, 28], [36, 28], [72, 56]]
    for rank in range(2):
        out = torch.load(tmp_path / f"{rank}.pt")
        assert out["matrix"].tolist() == MATRIX
        assert out["counts"].tolist() == expected_counts


def test_boundary_metrics_reexported():
    assert semseg.metrics.confusion.BoundaryFScore is semseg.metrics.boundary.BoundaryFScore
    assert semseg.metrics.confusion.BoundaryIoU is semseg.metrics.boundary.BoundaryIoU


def test_module_docstring_example_runs():
    result = doctest.testmod(semseg.metrics.confusion)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    cm = ConfusionMatrix(4)
    cm.update(logits_for(PRED[None], 4).cuda(), TARGET[None].to(torch.uint8).cuda())
    assert cm.matrix.device.type == "cuda"
    assert cm.matrix.tolist() == MATRIX
    cpu = hand_matrix()
    cpu.merge(cm)  # merging a CUDA matrix into a CPU one moves it
    assert cpu.matrix.device.type == "cpu" and cpu.matrix.sum() == 10
