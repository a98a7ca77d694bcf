"""Untrusted checkpoints never run code: every loading entry point refuses malicious pickles.

Each payload, when unpickled by Python's general unpickler, creates a marker file. The tests feed
them to the CLI commands and Python APIs that open model files and check that the command fails
cleanly (exit 2 / ``SemsegError``, one line) and that the marker never appears.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semseg.errors import SemsegError
from semseg.hub.checkpoint import FORMAT, load_checkpoint, rng_state, set_rng_state

REPO = Path(__file__).resolve().parents[1]


class _SystemCall:
    """Reduces to ``os.system("touch MARKER")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExecCall:
    """Reduces to ``builtins.exec(...)`` writing the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _EvilDict(dict):
    """A checkpoint-looking dict subclass whose reducer runs code."""

    marker: Path = Path()

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _EvilTensor(torch.Tensor):
    """A tensor subclass whose state restoration writes the marker."""

    def __setstate__(self, state):
        Path(state["marker_path"]).touch()

    def __getstate__(self):
        return {"marker_path": self.marker_path}


def _payloads(tmp: Path) -> dict[str, tuple[Path, Path]]:
    """name -> (malicious .pt file, marker file its payload would create)."""
    out = {}
    base = {"format": FORMAT, "version": 1, "spec": {}, "state_dict": {}}

    def add(name: str, build) -> None:
        marker = tmp / f"PWNED_{name}"
        path = tmp / f"{name}.pt"
        build(path, marker)
        out[name] = (path, marker)

    add("system", lambda p, m: torch.save({**base, "x": _SystemCall(m)}, p))
    add("exec", lambda p, m: torch.save({**base, "x": _ExecCall(m)}, p))
    add("plain_pickle", lambda p, m: p.write_bytes(pickle.dumps({**base, "x": _SystemCall(m)})))

    def evil_dict(p: Path, m: Path) -> None:
        d = _EvilDict(base)
        type(d).marker = m
        torch.save(d, p)

    add("dict_subclass", evil_dict)

    def evil_tensor(p: Path, m: Path) -> None:
        t = torch.zeros(2).as_subclass(_EvilTensor)
        t.marker_path = str(m)
        torch.save({**base, "state_dict": {"w": t}}, p)

    add("tensor_subclass", evil_tensor)
    return out


@pytest.fixture(scope="module")
def payloads(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    made = _payloads(tmp_path_factory.mktemp("evil"))
    # the payloads are real: Python's general unpickler runs them (checked on a copy)
    probe_dir = tmp_path_factory.mktemp("probe")
    for name, (path, _) in _payloads(probe_dir).items():
        marker = probe_dir / f"PWNED_{name}"
        # a bare pickle's payload runs before torch finds no magic number and raises
        with contextlib.suppress(RuntimeError):
            torch.load(path, weights_only=False)
        assert marker.exists(), f"payload {name} does not run under the general unpickler"
    return made


NAMES = ["system", "exec", "plain_pickle", "dict_subclass", "tensor_subclass"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "semseg", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("name", NAMES)
def test_load_checkpoint_refuses_payload(payloads, name) -> None:
    path, marker = payloads[name]
    with pytest.raises(SemsegError) as err:
        load_checkpoint(path)
    assert not marker.exists()
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_python_apis_refuse_payload(payloads, name, tmp_path) -> None:
    import semseg
    from semseg.compat.pixellib import semantic_segmentation
    from semseg.hub.checkpoint import load_model
    from semseg.inference.segmenter import Segmenter

    path, marker = payloads[name]
    image = REPO / "src" / "semseg" / "assets" / "street.jpg"
    calls = [lambda: load_model(path), lambda: semseg.load(str(path)),
             lambda: Segmenter.from_pretrained(str(path)),
             lambda: semseg.segment(image, model=str(path)),
             lambda: semantic_segmentation().load_pascalvoc_model(str(path))]
    for call in calls:
        with pytest.raises(SemsegError) as err:
            call()
        assert "\n" not in str(err.value)
    assert not marker.exists()


def test_cli_entry_points_refuse_payloads(payloads, tmp_path, camvid_root) -> None:
    """predict, eval, bench, export, train --resume and train --init: exit 2, one line, no side
    effect. Each command gets one payload in turn (the Python API tests take them all)."""
    image = REPO / "src" / "semseg" / "assets" / "street.jpg"

    def resume_dir(path: Path) -> Path:
        folder = tmp_path / f"resume_{path.stem}"
        folder.mkdir(exist_ok=True)
        (folder / "last.pt").write_bytes(path.read_bytes())
        return folder

    def commands(path: Path) -> list[list[str]]:
        train = ["train", "--data", str(camvid_root), "--epochs", "1", "--steps-per-epoch", "1",
                 "--threads", "1"]
        return [
            ["eval", str(path), "--data", str(camvid_root), "--limit", "1"],
            ["bench", str(path), "--size", "64x64", "--iters", "1", "--warmup", "0"],
            ["export", str(path), "-o", str(tmp_path / "m.onnx"), "--size", "64x64"],
            [*train, "-o", str(resume_dir(path)), "--resume"],
            [*train, "--arch", "litefpn", "-o", str(tmp_path / "init"), "--init", str(path)],
        ]

    runs = [(name, ["predict", str(payloads[name][0]), str(image), "-o", str(tmp_path / "out")])
            for name in NAMES[:2]]
    runs += [(name, commands(payloads[name][0])[i]) for i, name in enumerate(NAMES[::-1])]
    for name, args in runs:
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "refused" in lines[0], (args, done.stderr[-2000:])
        assert not payloads[name][1].exists(), (name, args)
    assert not any((tmp_path / p).exists() for p in ("out", "m.onnx", "init/last.pt"))


def test_rng_state_is_plain_data_and_round_trips(tmp_path) -> None:
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    np.random.normal()  # a cached Gaussian in NumPy's legacy state
    state = rng_state()
    path = tmp_path / "rng.pt"
    torch.save({"rng": state}, path)
    loaded = torch.load(path, weights_only=True)["rng"]  # plain data: no allow-list needed
    expected = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    set_rng_state(loaded)
    got = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    assert expected[:3] == got[:3] and torch.equal(expected[3], got[3])


def test_checkpoint_of_previous_format_still_loads_and_resumes_rng(tmp_path) -> None:
    """Before weights-only checkpoints, the RNG state held NumPy's tuple (a uint32 array)."""
    np.random.seed(11)
    random.seed(12)
    old = {"format": FORMAT, "version": 1, "spec": {}, "state_dict": {},
           "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                   "torch": torch.get_rng_state()}}
    path = tmp_path / "old.pt"
    torch.save(old, path)
    expected = (np.random.rand(), random.random())
    set_rng_state(load_checkpoint(path)["rng"])
    assert (np.random.rand(), random.random()) == expected
