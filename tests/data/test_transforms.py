"""Paired transforms: crop shapes, ignore padding, nearest masks, normalization, seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from semseg.data.info import DatasetInfo
from semseg.data.transforms import (
    check_size,
    eval_transform,
    normalize,
    normalize_image,
    train_transform,
)
from semseg.errors import ConfigError

INFO = DatasetInfo(name="toy", classes=tuple("abcdefgh"), palette=((0, 0, 0),) * 8,
                   mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
MEAN, STD = np.array(INFO.mean), np.array(INFO.std)


def sample(h: int = 40, w: int = 60, labels=(0, 3, 7)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = rng.choice(np.array(labels, np.uint8), size=(h, w))
    return image, mask


def test_train_output_is_crop_sized() -> None:
    image, mask = sample()
    tf = train_transform(INFO, crop_size=(32, 48))
    for _ in range(5):
        x, y = tf(image, mask)
        assert x.shape == (3, 32, 48) and x.dtype == torch.float32
        assert y.shape == (32, 48) and y.dtype == torch.int64


def test_padding_is_ignore_when_scaled_image_is_smaller_than_crop() -> None:
    image, mask = sample()  # 40x60 -> 20x30 at scale 0.5, padded to the 32x48 crop
    tf = train_transform(INFO, crop_size=(32, 48), scale_range=(0.5, 0.5), color_jitter=0)
    x, y = tf(image, mask)
    y = y.numpy()
    assert int((y == 255).sum()) == 32 * 48 - 20 * 30
    inside = np.argwhere(y != 255)
    (top, left), (bottom, right) = inside.min(0), inside.max(0)
    assert (bottom - top + 1, right - left + 1) == (20, 30)  # one solid block of real labels
    assert set(np.unique(y[top:bottom + 1, left:right + 1])) <= {0, 3, 7}
    # The image is padded with black, which normalizes to -mean/std.
    pad = x[:, y == 255].numpy()  # (3, P)
    np.testing.assert_allclose(pad, np.repeat((-MEAN / STD)[:, None], pad.shape[1], 1),
                               rtol=0, atol=1e-5)


def test_mask_values_stay_in_the_input_set() -> None:
    image, mask = sample(labels=(0, 3, 7))
    np.random.seed(0)
    tf = train_transform(INFO, crop_size=(32, 48), scale_range=(0.6, 1.7))
    seen: set[int] = set()
    for _ in range(15):
        seen |= set(tf(image, mask)[1].unique().tolist())
    assert seen <= {0, 3, 7, 255}
    assert {0, 3, 7} <= seen


def test_normalization_matches_mean_std_by_hand() -> None:
    image = np.empty((16, 20, 3), np.uint8)
    image[...] = (10, 100, 200)
    mask = np.zeros((16, 20), np.uint8)
    expected = (np.array([10, 100, 200]) / 255.0 - MEAN) / STD  # (3,)
    train = train_transform(INFO, crop_size=(16, 20), scale_range=(1.0, 1.0), color_jitter=0)
    raw, _ = eval_transform(image, mask)  # (3, 16, 20) uint8: normalized at inference
    for x in (train(image, mask)[0], normalize_image(image, INFO), normalize(raw[None], INFO)[0]):
        assert x.shape == (3, 16, 20) and x.dtype == torch.float32
        for c in range(3):
            np.testing.assert_allclose(x[c].numpy(), expected[c], rtol=0, atol=1e-5)


def test_flip_moves_image_and_mask_together() -> None:
    image, mask = sample(16, 20)
    mask[:, :10] = 0  # left half 0, right half 3: a flip swaps the halves
    mask[:, 10:] = 3
    tf = train_transform(INFO, crop_size=(16, 20), scale_range=(1.0, 1.0), color_jitter=0)
    flips = 0
    for _ in range(12):
        x, y = tf(image, mask)
        flipped = bool(y[0, 0] == 3)
        flips += flipped
        ref = mask[:, ::-1] if flipped else mask
        np.testing.assert_array_equal(y.numpy(), ref)
        first_col = image[:, -1 if flipped else 0, 0] / 255.0
        np.testing.assert_allclose(x[0, :, 0].numpy(), (first_col - MEAN[0]) / STD[0], atol=1e-5)
    assert 0 < flips < 12


def test_eval_leaves_image_and_mask_untouched() -> None:
    image, mask = sample()
    x, y = eval_transform(image, mask)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), image)  # (C, H, W), same pixels
    np.testing.assert_array_equal(y.numpy(), mask)  # full resolution, same values


def test_same_global_seed_gives_same_output() -> None:
    image, mask = sample()

    def run(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        np.random.seed(seed)
        random.seed(seed)
        tf = train_transform(INFO, crop_size=(32, 48))
        return [tf(image, mask) for _ in range(3)]

    a, b, c = run(1), run(1), run(2)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert any(not torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c, strict=True))
    assert not torch.equal(a[0][0], a[1][0])  # successive calls still differ


class _Repeat(Dataset):
    """The same (image, mask) pair four times, through a transform."""

    def __init__(self, tf) -> None:
        self.tf = tf
        self.image, self.mask = sample()

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tf(self.image, self.mask)


def test_dataloader_workers_do_not_repeat_augmentations() -> None:
    torch.manual_seed(0)
    tf = train_transform(INFO, crop_size=(32, 48))
    loader = DataLoader(_Repeat(tf), batch_size=1, num_workers=2)
    xs = [x[0] for x, _ in loader]  # items 0, 2 from worker 0; 1, 3 from worker 1
    assert not torch.equal(xs[0], xs[1]) and not torch.equal(xs[2], xs[3])


@pytest.mark.parametrize(
    "kw,message",
    [({"crop_size": (4, 48)}, "crop size must be at least 8x8 (height, width), got (4, 48)"),
     ({"scale_range": (0.0, 1.0)}, "scale range must satisfy 0 < min <= max, got (0.0, 1.0)"),
     ({"scale_range": (2.0, 1.0)}, "scale range must satisfy 0 < min <= max, got (2.0, 1.0)")],
)
def test_bad_options(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        train_transform(INFO, **kw)
    assert str(exc.value) == message
    with pytest.raises(ConfigError, match="eval size must be at least 8x8"):
        check_size((4, 4), "eval size")


def test_to_chw_copies_read_only_arrays_only() -> None:
    import warnings

    from semseg.data.transforms import to_chw

    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert to_chw(image).data_ptr() == image.ctypes.data  # writable: a view, no copy
    image.flags.writeable = False  # e.g. np.asarray(PIL image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on non-writable arrays
        chw = to_chw(image)
    assert chw.data_ptr() != image.ctypes.data
    assert chw.shape == (3, 2, 3) and (chw.permute(1, 2, 0).numpy() == image).all()
