"""DDP training under torchrun on CPU (gloo): equal to one process, resumable across process
counts, and a killed rank ends the job.

The data are 12 + 5 real CamVid frames shrunk to 48x64 (void ignored, ENet class weights, so
the ranks' shares of a batch hold different numbers of counted pixels: the loss must still be
the mean over the global batch). The model has no BatchNorm (CPU has no SyncBatchNorm kernel),
and augmentation is off (crop = image size), so 1 and 2 processes compute the same training up
to float summation order.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semseg.hub.checkpoint import load_checkpoint
from semseg.training.config import TrainConfig
from semseg.training.log import read_log
from semseg.training.train import main

REPO = Path(__file__).resolve().parents[2]
SIZE = (48, 64)  # (H, W) of the shrunk frames = crop size: no random crop
TOL = dict(rtol=1e-4, atol=1e-5)  # float summation order differs between 1 and 2 processes


def _shrink(src: Path, dest: Path, mask: bool) -> None:
    img = Image.open(src)
    if mask:
        arr = np.asarray(img.resize(SIZE[::-1], Image.NEAREST)).copy()
        arr[arr > 10] = 255  # CamVid void -> ignored
        img = Image.fromarray(arr.astype(np.uint8))
    else:
        img = img.convert("RGB").resize(SIZE[::-1], Image.BILINEAR)
    dest.parent.mkdir(parents=True, exist_ok=True)
    img.save(dest)


@pytest.fixture(scope="module")
def small_camvid(camvid_root: Path, tmp_path_factory) -> Path:
    """A folder dataset of 12 train and 5 val CamVid frames at 48x64 (5 is odd on purpose)."""
    root = tmp_path_factory.mktemp("small_camvid")
    for split, n in (("train", 12), ("val", 5)):
        for name in sorted(os.listdir(camvid_root / split))[:n]:
            stem = Path(name).stem
            _shrink(camvid_root / split / name, root / "images" / split / f"{stem}.png", False)
            _shrink(camvid_root / f"{split}annot" / name, root / "masks" / split / f"{stem}.png",
                    True)
    names = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
             "pedestrian", "bicyclist"]
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    return root


def _config(data: Path, out: Path, epochs: int) -> TrainConfig:
    return TrainConfig(
        data=str(data), format="folder", arch="unet",
        arch_kwargs={"base_width": 4, "batch_norm": False, "up": "bilinear"},
        pretrained_backbone=False, epochs=epochs, batch_size=4, crop_size=SIZE,
        scale_range=(1.0, 1.0), hflip=False, color_jitter=0.0, class_weighting="enet",
        lr=0.01, warmup_epochs=1.0, workers=0, threads=1, device="cpu", out_dir=str(out),
        dist_timeout_s=60)


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    env.pop("WORLD_SIZE", None)
    return env


def _torchrun(config: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "semseg", "train", "--config", str(config), *extra]
    return subprocess.run(cmd, env=_env(), text=True, capture_output=True, timeout=120)


def _assert_same_state(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a)["state_dict"], load_checkpoint(b)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], **TOL, msg=lambda m, k=k: f"{k}: {m}")


@pytest.fixture(scope="module")
def runs(small_camvid: Path, tmp_path_factory) -> dict[str, Path]:
    """2 epochs in 1 and in 2 processes, then a 3rd epoch: 1 -> 1, 2 -> 1 and 1 -> 2 processes."""
    tmp = tmp_path_factory.mktemp("ddp_runs")
    runs = {name: tmp / name for name in ("one", "two", "one_one", "two_one", "one_two")}
    main(_config(small_camvid, runs["one"], epochs=2))
    config = tmp / "two.json"
    config.write_text(json.dumps(_config(small_camvid, runs["two"], 2).to_dict()))
    done = _torchrun(config)
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.copytree(runs["one"], runs["one_one"])
    main(_config(small_camvid, runs["one_one"], epochs=3), resume=True)
    shutil.copytree(runs["two"], runs["two_one"])
    main(_config(small_camvid, runs["two_one"], epochs=3), resume=True)
    shutil.copytree(runs["one"], runs["one_two"])
    config = tmp / "one_two.json"
    config.write_text(json.dumps(
        _config(small_camvid, runs["one_two"], 3).to_dict()))
    done = _torchrun(config, "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    return runs


def test_two_processes_train_like_one_with_the_same_global_batch(
        runs: dict[str, Path], small_camvid: Path) -> None:
    _assert_same_state(runs["one"] / "last.pt", runs["two"] / "last.pt")
    one, two = read_log(runs["one"] / "log.jsonl"), read_log(runs["two"] / "log.jsonl")
    assert [r["epoch"] for r in two] == [1, 2]  # only rank 0 logs: one record per epoch
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)  # the ranks' losses averaged
        assert b["miou"] == pytest.approx(a["miou"], abs=1e-6)
        assert b["pixel_acc"] == pytest.approx(a["pixel_acc"], abs=1e-6)
    metrics = load_checkpoint(runs["two"] / "last.pt")["metrics"]
    # 5 val images split 3 + 2 over the ranks, no padding: every labelled pixel counted once
    labelled = sum(int((np.asarray(Image.open(m)) != 255).sum())
                   for m in (small_camvid / "masks" / "val").iterdir())
    assert metrics["num_pixels"] == labelled
    written = sorted(p.name for p in runs["two"].iterdir())
    assert written == ["best.pt", "config.json", "curves.png", "last.pt", "log.jsonl"]
    # rank 0 wrote each file once, and no temporary file is left


def test_resume_across_a_change_of_process_count(runs: dict[str, Path]) -> None:
    for name in ("two_one", "one_two"):
        ckpt = load_checkpoint(runs[name] / "last.pt")
        assert ckpt["epoch"] == 3 and ckpt["world_size"] == (2 if name == "one_two" else 1)
        _assert_same_state(runs["one_one"] / "last.pt", runs[name] / "last.pt")
        lrs = [r["lr"] for r in read_log(runs[name] / "log.jsonl")]
        assert lrs[-1] == pytest.approx(read_log(runs["one_one"] / "log.jsonl")[-1]["lr"])


def _rank_pid(token: str, rank: int) -> int | None:
    for proc in Path("/proc").iterdir():
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"SEMSEG_TEST_TOKEN={token}".encode() in env and f"RANK={rank}".encode() in env:
            return int(proc.name)
    return None


def test_killing_a_rank_ends_the_job_with_an_error(small_camvid: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    config = tmp_path / "long.json"
    config.write_text(json.dumps(_config(small_camvid, out, 100).to_dict()))
    token = f"{os.getpid()}-{time.time_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "semseg", "train", "--config", str(config), "--nproc", "2"],
        env=dict(_env(), SEMSEG_TEST_TOKEN=token), text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not (out / "last.pt").is_file():  # training is under way in both ranks
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        pid = _rank_pid(token, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=60)  # ends, rather than waiting for rank 1 forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert time.monotonic() - started < 60
    assert proc.returncode == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("semseg train: error: 2-process training in") and "failed" in last
    assert "Signal 9 (SIGKILL)" in stderr  # torchrun names the rank that died
    assert load_checkpoint(out / "last.pt")["epoch"] >= 1  # the last checkpoint is intact


def test_one_named_gpu_is_refused_under_torchrun(monkeypatch) -> None:
    from semseg.errors import ConfigError
    from semseg.training import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="device 'cuda:1' under torchrun: each process uses"):
        distributed.init("cuda:1", 4, 10.0)
