"""Training end to end on real CamVid images: train -> checkpoint -> eval -> predict; resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from semseg.cli import main as cli_main
from semseg.hub.checkpoint import load_checkpoint, load_model
from semseg.training.config import TrainConfig
from semseg.training.losses import CrossEntropy, FocalLoss, LovaszSoftmax, WeightedSum
from semseg.training.train import (
    build_criterion,
    build_datasets,
    build_scheduler,
    main,
    train_calibration_step_s,
)

SEMSEG = str(Path(sys.executable).parent / "semseg")
TINY = ["--arch", "litefpn", "--arch-kwargs", '{"decoder_channels": 16}', "--no-pretrained",
        "--limit-train", "4", "--limit-val", "1", "--batch-size", "2", "--crop-size", "64x96",
        "--workers", "0", "--threads", "1", "--val-every", "1", "--lr", "0.01"]


def tiny_config(camvid_root: Path, out: Path, **kw) -> TrainConfig:
    """A few-second training run on 4 CamVid images."""
    values = dict(data=str(camvid_root), arch="litefpn", arch_kwargs={"decoder_channels": 16},
                  pretrained_backbone=False, limit_train=4, limit_val=2, batch_size=2,
                  crop_size=(64, 96), epochs=1, workers=0, threads=1, out_dir=str(out))
    values.update(kw)
    return TrainConfig(**values)


def test_poly_schedule_with_warmup() -> None:
    cfg = TrainConfig(epochs=2, warmup_epochs=1, lr=1.0, poly_power=1.0)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(cfg, opt, steps_per_epoch=4)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up: (step + 1) / 4 for steps 0..3; then poly with power 1 over the 4 remaining steps
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25])


def test_train_checkpoint_eval_predict(camvid_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = main(tiny_config(camvid_root, out, steps_per_epoch=2))
    for name in ("best.pt", "last.pt", "log.jsonl", "curves.png", "config.json"):
        assert (out / name).is_file(), name
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert record["epoch"] == 1 and np.isfinite(record["loss"]) and 0 <= record["miou"] <= 1
    assert summary["best_miou"] == pytest.approx(record["miou"])

    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["spec"]["arch"] == "litefpn" and ckpt["epoch"] == 1
    assert ckpt["spec"]["info"]["classes"][0] == "sky"
    assert {"optimizer", "scheduler", "scaler", "rng", "config", "metrics"} <= set(ckpt)
    _, spec, meta = load_model(out / "best.pt")
    assert spec.info.num_classes == 11 and meta["metrics"]["miou"] == record["miou"]

    report = tmp_path / "eval.json"
    rc = cli_main(["eval", str(out / "best.pt"), "--data", str(camvid_root), "--limit", "2",
                   "--json", str(report), "--confusion-png", str(tmp_path / "cm.png")])
    assert rc == 0
    scores = json.loads(report.read_text())
    assert scores["images"] == 2 and len(scores["confusion_matrix"]) == 11
    assert scores["miou"] == pytest.approx(record["miou"], abs=1e-6)  # same 2 images, same model
    assert (tmp_path / "cm.png").stat().st_size > 0

    image = camvid_root / "val" / sorted(os.listdir(camvid_root / "val"))[0]
    rc = cli_main(["predict", str(out / "best.pt"), str(image), "-o", str(tmp_path / "pred")])
    assert rc == 0
    assert (tmp_path / "pred" / f"{image.stem}_overlay.png").is_file()


def _final_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def test_sigkill_then_resume_matches_uninterrupted_run(camvid_root: Path, tmp_path: Path) -> None:
    args = [SEMSEG, "train", "--data", str(camvid_root), *TINY, "--epochs", "3"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run([*args, "-o", str(straight)], check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen([*args, "-o", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / "log.jsonl").is_file():  # epoch 1 saved and logged; epoch 2 running
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert load_checkpoint(killed / "last.pt")["epoch"] < 3

    done = subprocess.run([*args, "-o", str(killed), "--resume"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(killed / "last.pt")["epoch"] == 3
    a, b = _final_weights(straight / "last.pt"), _final_weights(killed / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def test_bad_config_file_is_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 3\nlearning_rate: 0.1\n")
    proc = subprocess.run([SEMSEG, "train", "--config", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "learning_rate" in proc.stderr and str(cfg) in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_overfits_four_camvid_images(camvid_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(camvid_root, tmp_path / "overfit", arch_kwargs={}, pretrained_backbone=True,
                      crop_size=(176, 240), scale_range=(0.5, 0.5), color_jitter=0.0,
                      eval_size=(176, 240), epochs=150, limit_val=None, val_every=150,
                      class_weighting="none", lr=3e-3, warmup_epochs=5, threads=None)
    # validate on the same four training images: overfitting means fitting them
    cfg.val_split = "train"
    cfg.limit_val = 4
    summary = main(cfg)
    assert summary["last"]["pixel_acc"] >= 0.90, summary["last"]


def test_calibration_times_real_steps_and_leaves_no_run(camvid_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(camvid_root, tmp_path / "calib")
    step_s = train_calibration_step_s(cfg, steps=2)
    assert 0 < step_s < 60
    assert not (tmp_path / "calib" / "last.pt").exists()  # measuring writes no checkpoint


def test_checkpoint_every_saves_last_pt_on_its_epochs_and_the_final_one(
    camvid_root: Path, tmp_path: Path, monkeypatch
) -> None:
    import semseg.training.train as train_module

    saved: list[tuple[str, int]] = []
    real_save = train_module.save_checkpoint

    def spy(path, *args, **kwargs):
        saved.append((Path(path).name, kwargs["epoch"]))
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(train_module, "save_checkpoint", spy)
    cfg = tiny_config(camvid_root, tmp_path / "run", epochs=3, checkpoint_every=2, val_every=5,
                      steps_per_epoch=1, limit_val=1)
    main(cfg)
    assert [e for name, e in saved if name == "last.pt"] == [2, 3]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 3
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 3


def test_non_finite_loss_is_a_one_line_error(camvid_root: Path, tmp_path: Path, monkeypatch,
                                             capsys) -> None:
    import semseg.training.train as train_module
    from semseg.errors import TrainingError

    def nan_loss(model, criterion, x, y, distiller=None):
        return model(x).sum() * float("nan")

    monkeypatch.setattr(train_module, "compute_loss", nan_loss)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1 step 1: lower the "
                       r"learning rate \(now [0-9.e-]+\), raise warmup_epochs"):
        main(tiny_config(camvid_root, tmp_path / "run"))
    assert not (tmp_path / "run" / "last.pt").exists()


def test_config_loss_reaches_the_criterion_and_trains(camvid_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(camvid_root, tmp_path / "run", loss="ce+0.5*lovasz", steps_per_epoch=1)
    train_ds, _, info = build_datasets(cfg)
    criterion = build_criterion(cfg, train_ds, info.num_classes, info.ignore_index)
    assert isinstance(criterion, WeightedSum) and criterion.weights == [1.0, 0.5]
    ce, lovasz = criterion.terms
    assert isinstance(ce, CrossEntropy) and ce.weight is not None  # ENet class weights
    assert isinstance(lovasz, LovaszSoftmax)
    focal = build_criterion(TrainConfig(loss="focal", class_weighting="none", focal_gamma=1.0),
                            train_ds, info.num_classes, info.ignore_index)
    assert isinstance(focal, FocalLoss) and focal.gamma == 1.0 and focal.weight is None
    summary = main(cfg)
    assert summary["finished"]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["loss"] == "ce+0.5*lovasz"


def test_train_split_joins_splits_for_the_release_protocol(camvid_root: Path, tmp_path: Path):
    from semseg.data.camvid import dataset as camvid_dataset
    from semseg.errors import ConfigError

    joined, _, _ = build_datasets(tiny_config(camvid_root, tmp_path, train_split="train+val",
                                              limit_train=None))
    train, val = camvid_dataset(camvid_root, "train"), camvid_dataset(camvid_root, "val")
    assert len(joined) == len(train) + len(val) == 468
    image, mask = joined.load(len(train))  # the first val frame, untransformed
    want_image, want_mask = val.load(0)
    assert np.array_equal(image, want_image) and np.array_equal(mask, want_mask)
    assert joined.load(len(train) - 1)[1].shape == train.load(len(train) - 1)[1].shape
    assert joined.transform is not None and joined[len(train)][0].shape == (3, 64, 96)
    with pytest.raises(ConfigError, match="'nope' not found"):
        build_datasets(tiny_config(camvid_root, tmp_path, train_split="train+nope"))


def test_stop_epoch_ends_early_on_the_full_schedule(camvid_root: Path, tmp_path: Path) -> None:
    """``stop_epoch`` runs the first epochs of a longer schedule exactly: same lr, same weights."""
    full = tiny_config(camvid_root, tmp_path / "full", epochs=3, steps_per_epoch=1, limit_val=1,
                       val_every=5)
    main(full)
    stopped = tiny_config(camvid_root, tmp_path / "stop", epochs=3, stop_epoch=2,
                          steps_per_epoch=1, limit_val=1, val_every=5)
    summary = main(stopped)
    records = [json.loads(line) for line in (tmp_path / "stop" / "log.jsonl").read_text()
               .splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and "miou" in records[-1]  # validated at 2
    assert summary["last"]["miou"] == records[-1]["miou"]
    full_log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text()
                .splitlines()]
    assert records[1]["lr"] == pytest.approx(full_log[1]["lr"]) and records[1]["lr"] > 0
    assert records[0]["loss"] == pytest.approx(full_log[0]["loss"], rel=1e-5)
    assert load_checkpoint(tmp_path / "stop" / "last.pt")["epoch"] == 2


def test_stop_epoch_beyond_the_schedule_is_refused() -> None:
    from semseg.errors import ConfigError

    with pytest.raises(ConfigError, match="stop_epoch"):
        TrainConfig(epochs=3, stop_epoch=4)
