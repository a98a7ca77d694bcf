"""Forests: information gain by hand, threshold search, a synthetic texture, file format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semseg.data.info import DatasetInfo
from semseg.errors import InputFileError, ModelError
from semseg.forest import Forest, ForestParams, smooth_probs, train_forest
from semseg.forest.tree import best_thresholds, entropy, information_gain

INFO = DatasetInfo("stripes", ("vertical", "horizontal"), ((255, 0, 0), (0, 0, 255)))


def test_entropy_and_gain_by_hand():
    assert entropy(np.array([2.0, 2.0])) == pytest.approx(np.log(2))
    assert entropy(np.array([4.0, 0.0])) == 0.0
    # parent (4, 4): H = ln 2; left (3, 1), right (1, 3): H = -(3/4 ln 3/4 + 1/4 ln 1/4) each
    h_child = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    gain = information_gain(np.array([4.0, 4.0]), np.array([3.0, 1.0]))
    assert gain == pytest.approx(np.log(2) - h_child)
    assert information_gain(np.array([4.0, 4.0]), np.array([4.0, 0.0])) == pytest.approx(np.log(2))


def test_best_threshold_separates_and_rejects_constant_rows():
    responses = np.array([[5.0, 1.0, 2.0, 7.0], [3.0, 3.0, 3.0, 3.0]])
    y = np.array([1, 0, 0, 1])
    gain, thr = best_thresholds(responses, y, np.ones(4), 2)
    assert gain[0] == pytest.approx(np.log(2))  # 1, 2 | 5, 7 is a perfect split
    assert thr[0] == pytest.approx(3.5)
    assert gain[1] == -np.inf
    # weights enter the histograms: class 0 weighs 1 + 1, class 1 weighs 1 + 3
    g_w, _ = best_thresholds(responses[:1], y, np.array([1.0, 1, 1, 3]), 2)
    assert g_w[0] == pytest.approx(entropy(np.array([2.0, 4.0])))


class Stripes:
    """Two textures of equal mean colour: vertical stripes (class 0) beside horizontal ones."""

    info = INFO

    def __init__(self, n: int = 2, size: int = 24) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.size
        yy, xx = np.mgrid[:s, :s]
        split = s // 2 + (4 if i % 2 else -4)  # the boundary moves between images
        vertical = xx < split
        grey = np.where(vertical, xx % 2, yy % 2) * 200 + 20
        image = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
        return image, np.where(vertical, 0, 1).astype(np.uint8)


@pytest.mark.parametrize("kind", ["learned", "pixel-pair"])
def test_forest_separates_synthetic_texture(kind, tmp_path):
    params = ForestParams(trees=2, max_depth=6, images=2, pixels_per_image=300, scale=1.0,
                          radius=2, candidates=24, seed=1)
    forest = train_forest(Stripes(), kind, params)
    image, mask = Stripes(n=3).load(2)  # the training layouts are images 0 and 1
    pred = forest.predict(image)
    cols = np.arange(mask.shape[1])
    split = int(mask[0].argmax())
    inner = np.abs(cols - split) > params.radius  # a filter near the boundary sees both
    assert (pred[:, inner] == mask[:, inner]).all()
    forest.save(tmp_path / "f.npz")
    again = Forest.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(again.predict(image), pred)
    assert again.kind == kind and again.classes == INFO.classes


def test_learned_filters_are_sparse_and_can_use_several_taps():
    forest = train_forest(Stripes(), "learned", ForestParams(trees=1, max_depth=6, images=2,
                          pixels_per_image=300, scale=1.0, radius=2, max_taps=4, seed=0))
    taps = forest.trees[0].taps[forest.trees[0].left >= 0]  # split nodes
    used = (taps[..., 3] != 0).sum(1)
    assert used.min() >= 1 and used.max() <= 4


def test_wrong_version_and_non_forest_files_fail_cleanly(tmp_path):
    forest = train_forest(Stripes(), "pixel-pair", ForestParams(
        trees=1, max_depth=2, images=2, pixels_per_image=50, scale=1.0, radius=1))
    path = forest.save(tmp_path / "f.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    header["version"] = 99
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "v99.npz", **arrays)
    with pytest.raises(ModelError, match="version 99"):
        Forest.load(tmp_path / "v99.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match=r"junk\.npz"):
        Forest.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "obj.npz", header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputFileError, match=r"obj\.npz"):  # object arrays are never unpickled
        Forest.load(tmp_path / "obj.npz")


def test_smoothing_keeps_edges_and_fills_noise():
    guide = np.zeros((3, 8, 8), dtype=np.float32)
    guide[0, :, 4:] = 100.0  # a strong colour edge between columns 3 and 4
    probs = np.zeros((2, 8, 8), dtype=np.float32)
    probs[0, :, :4] = probs[1, :, 4:] = 1.0
    probs[:, 2, 1] = (0.4, 0.6)  # one noisy pixel on the left
    out = smooth_probs(probs, guide, iters=5)
    pred = out.argmax(0)
    assert (pred[:, :4] == 0).all() and (pred[:, 4:] == 1).all()
    np.testing.assert_allclose(out.sum(0), 1.0, rtol=1e-5)
