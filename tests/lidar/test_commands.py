"""``semseg predict/eval/train`` on SemanticKITTI scans, end to end on the real scan."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
from PIL import Image

from semseg.cli import main
from semseg.data import semantickitti as kitti
from semseg.hub.checkpoint import load_checkpoint
from semseg.lidar.io import read_ply

from .conftest import SCAN

N = 124_668


def test_predict_writes_ply_label_and_pngs(kitti_sample, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["predict", str(tiny_checkpoint), str(SCAN), "-o", str(out), "--uncertainty",
            "--mc-samples", "2"]
    assert main(argv) == 0
    assert f"{N:,} points" in capsys.readouterr().out
    vertex = read_ply(out / "000000.ply")
    label = np.fromfile(out / "000000.label", dtype="<u4")
    assert len(vertex) == len(label) == N
    assert set(np.unique(label)) <= set(kitti.LEARNING_MAP_INV.values())
    assert (vertex["label"] == label).all()
    points = kitti.read_scan(SCAN)
    np.testing.assert_array_equal(vertex["x"], points[:, 0])
    train_ids = kitti.encode(label.astype(np.int64), "pred")
    rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1)
    np.testing.assert_array_equal(rgb, kitti.INFO.palette_array()[train_ids])
    assert vertex["entropy"].min() >= 0 and vertex["entropy"].max() <= math.log(19) + 1e-5
    assert (vertex["epistemic"] >= 0).all() and (vertex["variance"] >= 0).all()
    for name in ("range", "labels", "uncertainty"):
        assert np.asarray(Image.open(out / f"000000_{name}.png")).shape == (64, 256, 3)


def test_bad_scans_fail_with_one_line_and_no_output(kitti_sample, tiny_checkpoint, tmp_path,
                                                    capsys):
    bad = tmp_path / "scans" / "000001.bin"
    bad.parent.mkdir()
    bad.write_bytes(SCAN.read_bytes()[:1001])
    out = tmp_path / "out"
    assert main(["predict", str(tiny_checkpoint), str(SCAN), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"semseg predict: error: {bad}: 1001 bytes is not a whole number of points "
                   "(16 bytes each: float32 x, y, z, remission); truncated or not a KITTI scan")
    assert not out.exists()  # the good scan was not written either
    assert main(["predict", "salsanext", str(SCAN), "-o", str(out)]) == 2
    assert "no pretrained LiDAR model ships" in capsys.readouterr().err
    assert main(["predict", str(tiny_checkpoint), str(tmp_path / "nope.bin"), "-o",
                 str(out)]) == 2
    assert "nope.bin: file not found" in capsys.readouterr().err
    assert main(["predict", str(tiny_checkpoint), str(SCAN), "-o", str(out), "--tta"]) == 2
    assert "--tta: image options" in capsys.readouterr().err
    assert not out.exists()


def test_eval_scores_every_labelled_point(kitti_sample, tiny_checkpoint, tmp_path, capsys):
    report = tmp_path / "eval.json"
    argv = ["eval", str(tiny_checkpoint), "--data", str(kitti_sample), "--format",
            "semantickitti", "--split", "train", "--json", str(report)]
    assert main(argv) == 0
    assert "point acc" in capsys.readouterr().out
    scores = json.loads(report.read_text())
    assert scores["num_pixels"] == N - 4886  # every point but the ignored ones
    assert np.asarray(scores["confusion_matrix"]).shape == (19, 19)
    assert main(argv[:-4]) == 2  # default split val: sequence 08 is not in the sample
    assert "no sequences of split 'val'" in capsys.readouterr().err


def test_train_one_epoch_cli(kitti_sample, tmp_path, capsys):
    out, config = tmp_path / "run", tmp_path / "kitti.yaml"
    config.write_text("format: semantickitti\nval_split: train  # the sample has only seq 00\n")
    argv = ["train", "--config", str(config), "--data", str(kitti_sample), "--arch",
            "salsanext", "--arch-kwargs", '{"width": 4}', "--epochs", "1", "--eval-size",
            "64x128", "--threads", "1", "--workers", "0", "-o", str(out)]
    assert main(argv) == 0
    assert "best val mIoU" in capsys.readouterr().out
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["spec"]["input_size"] == [64, 128] and ckpt["spec"]["in_channels"] == 5
    record = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["loss"]) and record["loss"] > 0
    assert 0 <= record["point_acc"] <= 1
    assert main([*argv, "--resume"]) == 2
    assert "--resume is not supported for --format semantickitti" in capsys.readouterr().err


def test_predict_a_folder_of_scans(kitti_sample, tiny_checkpoint, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(SCAN, folder / "a.bin")
    shutil.copy(SCAN, folder / "b.bin")
    assert main(["predict", str(tiny_checkpoint), str(folder), "-o", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.label")) == ["a.label", "b.label"]
