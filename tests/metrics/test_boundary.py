"""Boundary F-score and boundary IoU on hand-built squares (pixel counts derived in comments).

Counting conventions used below (see semseg.metrics.boundary): a pixel of class c is a boundary
pixel when
one of its 8 neighbours is a valid pixel of another class; image borders and ignore pixels never
make a boundary. For a 20x20 square of class 1 away from the border:
  - class-1 boundary = the square's outer ring of pixels: 4 * 20 - 4 = 76 pixels
    (top row 20, bottom row 20, left and right columns 18 each);
  - class-0 (background) boundary = the ring just outside it: 22 * 22 - 20 * 20 = 84 pixels.
"""

import doctest
import json
import math

import numpy as np
import pytest
import torch

import semseg.metrics.boundary
from semseg.metrics.boundary import BoundaryFScore, BoundaryIoU, boundary, dilate, inner_band

SIZE, SIDE, TOP, LEFT = 64, 20, 20, 20


def square(top: int = TOP, left: int = LEFT, side: int = SIDE) -> torch.Tensor:
    """(1, SIZE, SIZE) label image: class 1 inside the square, class 0 elsewhere."""
    img = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
    img[:, top : top + side, left : left + side] = 1
    return img


def f_scores(pred: torch.Tensor, target: torch.Tensor, tolerance: float = 2, **kw) -> list:
    metric = BoundaryFScore(2, tolerance=tolerance, **kw)
    metric.update(pred, target)
    return list(metric.compute().per_class)


def test_square_boundary_pixel_counts():
    img = square()
    valid = torch.ones_like(img, dtype=torch.bool)
    assert boundary(img == 1, valid).sum() == 76
    assert boundary(img == 0, valid).sum() == 84


def test_image_border_is_not_a_boundary():
    # Square in the top-left corner (rows 0..19, cols 0..19): only its bottom row (20 pixels)
    # and right column (20 pixels) touch background; they share pixel (19, 19): 20 + 20 - 1 = 39.
    img = square(top=0, left=0)
    assert boundary(img == 1, torch.ones_like(img, dtype=torch.bool)).sum() == 39


def test_identical_masks_score_one():
    assert f_scores(square(), square(), tolerance=0) == [1.0, 1.0]
    iou = BoundaryIoU(2, tolerance=2)
    iou.update(square(), square())
    assert list(iou.compute().per_class) == [1.0, 1.0]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_shift_within_tolerance_scores_one(k):
    # Every boundary pixel of the square shifted right by k lies k columns from the matching
    # GT boundary pixel (or on it), so any tolerance >= k matches everything.
    shifted = square(left=LEFT + k)
    assert f_scores(shifted, square(), tolerance=k) == [1.0, 1.0]
    assert f_scores(shifted, square(), tolerance=k + 4) == [1.0, 1.0]
    assert f_scores(shifted, square(), tolerance=k - 1)[1] < 1.0


def test_diagonal_shift_uses_square_neighbourhood():
    # Shifted by (3, 3): Chebyshev distance 3 (Euclidean would be 4.24), so tolerance 3 matches.
    assert f_scores(square(top=TOP + 3, left=LEFT + 3), square(), tolerance=3) == [1.0, 1.0]


def test_shift_with_zero_tolerance_hand_count():
    # Prediction = GT square shifted right by k = 3, tolerance 0 (exact pixel overlap).
    # Class 1: GT ring occupies columns 20..39, predicted ring 23..42. Their top rows share
    # columns 23..39 = 20 - k = 17 pixels, bottom rows likewise 17. The side columns never meet
    # (GT sides at 20, 39; predicted sides at 23, 42; only k = 19 would align 39 with 20 + k),
    # and side pixels (rows 21..38) never lie on the other ring's top/bottom rows (20, 39).
    # matched = 2 * 17 = 34 of 76 on both sides: P = R = F = 34/76 = 17/38.
    # Class 0: the outer rings (84 pixels, 22 wide) share 22 - k = 19 pixels on the top and
    # on the bottom row, sides never meet: P = R = F = 38/84 = 19/42.
    metric = BoundaryFScore(2, tolerance=0)
    metric.update(square(left=LEFT + 3), square())
    assert metric.counts.T.tolist() == [[38, 84, 38, 84], [34, 76, 34, 76]]
    scores = metric.compute()
    assert scores.per_class == pytest.approx((19 / 42, 17 / 38))
    assert scores.mean == pytest.approx((19 / 42 + 17 / 38) / 2)
    precision, recall = metric.precision_recall()
    np.testing.assert_allclose(precision, [19 / 42, 17 / 38])
    np.testing.assert_allclose(recall, [19 / 42, 17 / 38])


def test_absent_class_is_nan_and_excluded_from_mean():
    metric = BoundaryFScore(3, tolerance=0)  # class 2 appears nowhere
    metric.update(square(left=LEFT + 3), square())
    scores = metric.compute()
    assert math.isnan(scores.per_class[2])
    assert scores.mean == pytest.approx((19 / 42 + 17 / 38) / 2)
    assert scores.to_dict(["bg", "square", "none"])["per_class"]["none"] is None
    json.dumps(scores.to_dict(), allow_nan=False)


def test_class_missing_from_prediction_scores_zero():
    # Prediction all background: class 1 has 76 GT boundary pixels and no predicted one,
    # class 0 has no predicted boundary either (the whole image is one region).
    assert f_scores(torch.zeros_like(square()), square()) == [0.0, 0.0]


def test_ignore_pixels_make_no_boundary_and_are_not_counted():
    # GT: the square, with a void column (255) just left of it, rows 19..40 (one beyond the
    # square at each end). The prediction paints that void column as class 1, widening its square.
    # GT class-1 boundary: the 18 left-side pixels (rows 21..38, col 20) now have only void or
    # class-1 neighbours, so they drop out: 76 - 18 = 58. The corners (20, 20) and (39, 20) keep
    # their background neighbours above/below. Predicted class 1: pixels in the void column are
    # never counted, and col 20 again sees only void on its left, so the same 58 pixels.
    target = square()
    target[:, TOP - 1 : TOP + SIDE + 1, LEFT - 1] = 255
    pred = square()
    pred[:, TOP : TOP + SIDE, LEFT - 1] = 1
    metric = BoundaryFScore(2, tolerance=0)
    metric.update(pred, target)
    assert metric.counts[:, 1].tolist() == [58, 58, 58, 58]
    assert metric.compute().per_class[1] == 1.0


def test_boundary_iou_disjoint_squares_is_zero():
    iou = BoundaryIoU(2, tolerance=2)
    iou.update(square(top=40, left=40), square(top=5, left=5))
    inter, union = iou.counts[:, 1].tolist()
    # width-2 band of a 20x20 square: 400 - 16 * 16 = 144 pixels; disjoint bands: union 2 * 144
    assert (inter, union) == (0, 288)
    assert iou.compute().per_class[1] == 0.0


def test_boundary_iou_shift_hand_count():
    # Width 1: the band is the boundary ring (76 pixels); shifted by 3 the rings share 34 pixels
    # (see the F-score count above): IoU = 34 / (76 + 76 - 34) = 34/118 = 17/59.
    iou = BoundaryIoU(2, tolerance=1)
    iou.update(square(left=LEFT + 3), square())
    assert iou.counts[:, 1].tolist() == [34, 118]
    assert iou.compute().per_class[1] == pytest.approx(17 / 59)


@pytest.mark.parametrize("radius", [0, 1, 2, 7, 40])
def test_dilate_matches_max_pooling(radius):
    # Reference: a (2r+1) square max-pool, whose implicit -inf padding ignores off-image pixels.
    mask = torch.rand(2, 13, 17, generator=torch.Generator().manual_seed(radius)) > 0.9
    k = 2 * radius + 1
    pooled = torch.nn.functional.max_pool2d(mask[:, None].float(), k, 1, radius) > 0.5
    assert torch.equal(dilate(mask, radius), pooled[:, 0])  # radius 40 > image: whole-image OR


def test_inner_band_width():
    img = square()
    valid = torch.ones_like(img, dtype=torch.bool)
    # width d keeps the square minus its (20 - 2d)^2 interior
    for d in (1, 2, 5):
        assert inner_band(img == 1, valid, d).sum() == 400 - (20 - 2 * d) ** 2


def test_streaming_equals_sum_of_counts():
    # Image A: exact prediction (class 1 matched 76 of 76); image B: shift 3 (34 of 76).
    # Summed: P = R = (76 + 34) / (76 + 76) = 110/152 = 55/76.
    pairs = [(square(), square()), (square(left=LEFT + 3), square())]
    for cls in (BoundaryFScore, BoundaryIoU):
        streamed, batched = cls(2, tolerance=1), cls(2, tolerance=1)
        singles = []
        for pred, target in pairs:
            streamed.update(pred, target)
            single = cls(2, tolerance=1)
            single.update(pred, target)
            singles.append(single)
        batched.update(torch.cat([p for p, _ in pairs]), torch.cat([t for _, t in pairs]))
        assert torch.equal(streamed.counts, singles[0].counts + singles[1].counts)
        assert torch.equal(batched.counts, streamed.counts)
        singles[0].merge(singles[1])
        assert torch.equal(singles[0].counts, streamed.counts)
    exact = BoundaryFScore(2, tolerance=0)
    for pred, target in pairs:
        exact.update(pred, target)
    assert exact.counts[:, 1].tolist() == [110, 152, 110, 152]
    assert exact.compute().per_class[1] == pytest.approx(55 / 76)


def test_reset_zeroes_counts():
    metric = BoundaryFScore(2)
    metric.update(square(), square())
    metric.reset()
    assert metric.counts.sum() == 0


def test_logits_and_uint8_inputs():
    logits = torch.nn.functional.one_hot(square(left=LEFT + 3), 2).permute(0, 3, 1, 2).float()
    metric = BoundaryFScore(2, tolerance=0)
    metric.update(logits, square().to(torch.uint8))  # (1, 2, 64, 64) logits, uint8 target
    assert metric.compute().per_class == pytest.approx((19 / 42, 17 / 38))
    unbatched = BoundaryFScore(2, tolerance=0)
    unbatched.update(square(left=LEFT + 3)[0], square()[0])  # (H, W) inputs
    assert torch.equal(unbatched.counts, metric.counts)


def test_tolerance_as_share_of_diagonal():
    # 64x64 image: diagonal 90.51 px, 5% of it = 4.53 px, rounded up to 5 px.
    relative = BoundaryFScore(2, tolerance=0.05, tolerance_unit="diagonal")
    assert relative.radius(SIZE, SIZE) == 5
    absolute = BoundaryFScore(2, tolerance=5)
    for metric in (relative, absolute):
        metric.update(square(left=LEFT + 6), square())
    assert torch.equal(relative.counts, absolute.counts)
    assert relative.compute().to_dict()["tolerance_unit"] == "diagonal"


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (BoundaryFScore, {"tolerance": 2, "tolerance_unit": "percent"}, "one of"),
        (BoundaryFScore, {"tolerance": -1}, "integer >= 0"),
        (BoundaryFScore, {"tolerance": 1.5}, "integer >= 0"),
        (BoundaryFScore, {"tolerance": 2, "tolerance_unit": "diagonal"}, r"in \(0, 1\)"),
        (BoundaryIoU, {"tolerance": 0}, "integer >= 1"),
    ],
)
def test_invalid_tolerance_rejected(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(2, **kwargs)


def test_merge_rejects_different_settings():
    with pytest.raises(ValueError, match="cannot merge"):
        BoundaryFScore(2, tolerance=2).merge(BoundaryFScore(2, tolerance=3))
    with pytest.raises(ValueError, match="cannot merge"):
        BoundaryFScore(2).merge(BoundaryIoU(2))


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"\(1, 64, 63\) does not match target of shape"):
        BoundaryFScore(2).update(square()[..., :63], square())


def test_module_docstring_example_runs():
    result = doctest.testmod(semseg.metrics.boundary)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    pred, target = square(left=LEFT + 3), square()
    for cls in (BoundaryFScore, BoundaryIoU):
        cpu, gpu = cls(2, tolerance=1), cls(2, tolerance=1)
        cpu.update(pred, target)
        gpu.update(pred.cuda(), target.cuda())
        assert gpu.counts.device.type == "cuda"
        assert torch.equal(gpu.counts.cpu(), cpu.counts)
