"""One evaluation path: training validation and ``semseg eval`` score a checkpoint identically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from semseg.cli import main as cli_main
from semseg.data import camvid
from semseg.data.transforms import eval_transform
from semseg.hub.checkpoint import load_model
from semseg.inference.segmenter import InferenceOptions, Segmenter
from semseg.metrics.evaluate import evaluate
from semseg.training.config import TrainConfig
from semseg.training.train import main as train


def _eval_miou(checkpoint: Path, data: Path, out: Path, *extra: str) -> float:
    rc = cli_main(["eval", str(checkpoint), "--data", str(data), "--split", "val", "--limit",
                   "2", "--boundary-tolerance", "-1", "--threads", "1", "--json", str(out),
                   *extra])
    assert rc == 0
    return json.loads(out.read_text())["miou"]


@pytest.mark.parametrize("eval_size", [(240, 320), None], ids=["eval_size", "native"])
def test_validation_miou_equals_semseg_eval(camvid_root: Path, tmp_path: Path,
                                            eval_size) -> None:
    # Fine-tuned from the bundled LiteFPN for one step, so predictions are far from constant and
    # any difference in preprocessing (resize, padding, normalization) moves the mIoU.
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(camvid_root), arch="litefpn", init="camvid-litefpn",
                      pretrained_backbone=False, limit_train=2, limit_val=2, batch_size=2,
                      steps_per_epoch=1, crop_size=(64, 96), eval_size=eval_size, epochs=1,
                      lr=1e-4, workers=0, threads=1, out_dir=str(out))
    train(cfg)
    logged = json.loads((out / "log.jsonl").read_text().splitlines()[-1])["miou"]
    _, spec, meta = load_model(out / "best.pt")
    assert spec.input_size == eval_size
    assert meta["metrics"]["miou"] == logged
    assert logged > 0.3  # a real model: several classes predicted correctly

    evaluated = _eval_miou(out / "best.pt", camvid_root, tmp_path / "eval.json")
    assert evaluated == pytest.approx(logged, abs=1e-6)
    # the check can fail: another network input size scores differently on the same images
    other = _eval_miou(out / "best.pt", camvid_root, tmp_path / "other.json",
                       "--input-size", "192x256")
    assert abs(other - logged) > 1e-4


def test_evaluate_matches_segmenter_masks(camvid_root: Path) -> None:
    """``evaluate`` predicts what ``Segmenter.predict`` predicts: the same preprocessing."""
    torch.set_num_threads(1)
    seg = Segmenter.from_pretrained("default")
    ds = camvid.dataset(camvid_root, "val", eval_transform)
    image, mask = ds.load(0)
    x, y = ds[0]
    assert x.dtype == torch.uint8 and tuple(x.shape) == (3, *mask.shape)  # native, unnormalized
    want = seg.predict(image, window=(192, 256)).mask  # (H, W)
    cm, _ = evaluate(seg.model, [(x[None], y[None])], seg.info,
                     InferenceOptions(input_size=seg.spec.input_size, window=(192, 256)))
    pred_cm = np.zeros((11, 11), dtype=np.int64)
    valid = mask != seg.info.ignore_index
    np.add.at(pred_cm, (mask[valid], want[valid]), 1)
    np.testing.assert_array_equal(cm.matrix.cpu().numpy(), pred_cm)


def test_eval_window_option(camvid_root: Path, tmp_path: Path, capsys) -> None:
    """``semseg eval --window`` scores what ``Segmenter.predict(window=...)`` predicts."""
    torch.set_num_threads(1)
    seg = Segmenter.from_pretrained("default")
    image, mask = camvid.dataset(camvid_root, "val").load(0)
    want = seg.predict(image, window=(192, 256)).mask  # (H, W)
    valid = mask != seg.info.ignore_index
    expected = np.zeros((11, 11), dtype=np.int64)
    np.add.at(expected, (mask[valid], want[valid]), 1)
    out = tmp_path / "eval.json"
    assert cli_main(["eval", "default", "--data", str(camvid_root), "--limit", "1", "--threads",
                     "1", "--window", "192x256", "--overlap", "0.5", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["window"] == [192, 256] and report["overlap"] == 0.5
    overlap_half = np.asarray(report["confusion_matrix"])
    assert overlap_half.sum() == valid.sum()
    assert cli_main(["eval", "default", "--data", str(camvid_root), "--limit", "1", "--threads",
                     "1", "--window", "192x256", "--json", str(out)]) == 0
    np.testing.assert_array_equal(json.loads(out.read_text())["confusion_matrix"], expected)
    capsys.readouterr()
    assert cli_main(["eval", "default", "--data", str(camvid_root), "--limit", "1",
                     "--window", "4x4"]) == 2
    assert "sliding window must be (height, width) >= 8 each" in capsys.readouterr().err
