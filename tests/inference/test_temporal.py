"""Temporal smoothing on a generated clip with known labels: a textured square moving over a
textured background past a static stripe, and a "model" that is right on average but noisy
per pixel (one-hot logits + Gaussian noise), like a per-frame segmenter's flicker."""

from __future__ import annotations

import numpy as np
import pytest

from semseg.errors import ConfigError
from semseg.inference.temporal import TemporalSmoother, label_change_rate

H, W, K = 120, 200, 3


def clip(speed: int, frames: int = 16, seed: int = 0):
    """Frames (H, W, 3) uint8, true labels (H, W), noisy probabilities (K, H, W)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (H // 4, W // 4 + frames * speed, 3), dtype=np.uint8)
    background = np.kron(background, np.ones((4, 4, 1), np.uint8))  # 4x4 texture cells
    square = np.kron(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8), np.ones((4, 4, 1),
                                                                                np.uint8))
    out = []
    for t in range(frames):
        frame = background[:H, :W].copy()
        labels = np.zeros((H, W), np.int64)
        frame[:, 150:170] = (40, 200, 40)
        frame[:, 150:170:4] = (20, 120, 20)  # a striped static pole
        labels[:, 150:170] = 1
        x = 10 + t * speed
        frame[40:80, x:x + 40] = square
        labels[40:80, x:x + 40] = 2
        logits = np.eye(K, dtype=np.float32)[labels].transpose(2, 0, 1) * 1.5
        logits += rng.normal(0, 1, logits.shape).astype(np.float32)
        probs = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
        out.append((frame, labels, probs))
    return out


def run(method: str | None, data, alpha: float) -> tuple[float, float]:
    """(pixel accuracy, label change rate) of the smoothed or raw predictions."""
    smoother = TemporalSmoother(method, alpha=alpha) if method else None
    preds = [(smoother.smooth(f, p) if smoother else p).argmax(0) for f, _, p in data]
    acc = np.mean([(p == y).mean() for p, (_, y, _) in zip(preds, data, strict=True)])
    return float(acc), label_change_rate(preds, [f for f, _, _ in data])


@pytest.mark.parametrize("speed", [3, 8])
def test_smoothing_removes_flicker_without_losing_accuracy(speed: int) -> None:
    data = clip(speed)
    truth = label_change_rate([y for _, y, _ in data], [f for f, _, _ in data])
    raw_acc, raw_flicker = run(None, data, 0.5)
    ema_acc, ema_flicker = run("ema", data, 0.5)
    flow_acc, flow_flicker = run("flow", data, 0.5)
    assert truth < 0.03  # flow errors leave the true labels almost steady
    assert raw_flicker > 0.2
    assert ema_flicker < raw_flicker - 0.1 and flow_flicker < raw_flicker - 0.1
    assert ema_acc > raw_acc and flow_acc > raw_acc
    if speed == 8:  # EMA trails the fast square; warping first follows it
        assert flow_acc > ema_acc


def test_a_constant_prediction_never_flickers() -> None:
    data = clip(3, frames=4)
    assert label_change_rate([np.zeros((H, W), np.int64)] * 4, [f for f, _, _ in data]) == 0.0


def test_scene_cut_resets_the_history() -> None:
    data = clip(3, frames=3)
    smoother = TemporalSmoother("flow", alpha=0.5)
    smoother.smooth(data[0][0], data[0][2])
    other = np.full((H, W, 3), 250, np.uint8)  # a different scene
    probs = data[1][2]
    assert np.array_equal(smoother.smooth(other, probs), probs) and smoother.cuts == 1
    assert not np.array_equal(smoother.smooth(other, data[2][2]), data[2][2])  # smoothing again


def test_first_frame_is_unchanged_and_bad_options_raise() -> None:
    frame, _, probs = clip(3, frames=1)[0]
    assert np.array_equal(TemporalSmoother("ema").smooth(frame, probs), probs)
    with pytest.raises(ConfigError, match="expected one of"):
        TemporalSmoother("median")
    with pytest.raises(ConfigError, match="alpha"):
        TemporalSmoother("ema", alpha=0.0)


def test_predict_smooths_a_sequence_of_frames(camvid_root, tmp_path) -> None:
    """``semseg predict --temporal ema``: frame 1 as is, frame t = (p_t + smoothed p_{t-1}) / 2."""
    from PIL import Image

    from semseg.cli import main as cli_main

    frames = tmp_path / "frames"
    frames.mkdir()
    for name in sorted((camvid_root / "val").iterdir())[:3]:
        Image.open(name).convert("RGB").resize((160, 120)).save(frames / name.name)
    assert cli_main(["predict", "default", str(frames), "-o", str(tmp_path / "raw"),
                     "--probs"]) == 0
    assert cli_main(["predict", "default", str(frames), "-o", str(tmp_path / "ema"), "--probs",
                     "--temporal", "ema", "--temporal-alpha", "0.5"]) == 0
    stems = [p.stem for p in sorted(frames.iterdir())]

    def probs(folder: str, stem: str) -> np.ndarray:
        with np.load(tmp_path / folder / f"{stem}_probs.npz") as f:
            return f["probs"].astype(np.float32)

    smoothed = probs("raw", stems[0])
    np.testing.assert_array_equal(probs("ema", stems[0]), smoothed)
    for stem in stems[1:]:
        smoothed = 0.5 * probs("raw", stem) + 0.5 * smoothed
        np.testing.assert_allclose(probs("ema", stem), smoothed, atol=2e-3)  # float16 files


def test_temporal_needs_the_local_engine(tmp_path, capsys) -> None:
    """Ray's actors take frames in any order, so --temporal with --engine ray is refused."""
    from PIL import Image

    from semseg.cli import main as cli_main

    Image.fromarray(clip(3, frames=1)[0][0]).save(tmp_path / "f.png")
    rc = cli_main(["predict", "default", str(tmp_path / "f.png"), "-o", str(tmp_path / "out"),
                   "--engine", "ray", "--temporal", "ema"])
    assert rc == 2 and "--temporal needs frames in order" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
