"""``semseg predict --engine ray`` on a local Ray started here (2 CPUs): the local engine's
outputs, byte for byte, from a pool of two half-CPU actors; a corrupt file is named."""

from __future__ import annotations

import faulthandler
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from semseg.cli import main as cli_main
from semseg.errors import ConfigError
from semseg.inference.ray_predict import pool_size

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data internals


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module: 2 CPUs, no dashboard (start-up ~10 s)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def frames(camvid_root: Path, tmp_path_factory) -> Path:
    """20 CamVid val frames at 120x160 (a quarter of each side, to keep the test short)."""
    folder = tmp_path_factory.mktemp("frames")
    for name in sorted(os.listdir(camvid_root / "val"))[:20]:
        img = Image.open(camvid_root / "val" / name).convert("RGB")
        img.resize((160, 120), Image.BILINEAR).save(folder / f"{Path(name).stem}.jpg", quality=95)
    return folder


def test_pool_never_holds_every_cpu() -> None:
    assert pool_size(2, None) == (1, 1.0, 1)  # one CPU stays free for Ray Data's reads
    assert pool_size(2, 2) == (2, 0.5, 1)  # two actors share the other CPU
    assert pool_size(16, None) == (15, 1.0, 1)
    assert pool_size(4, 2) == (2, 1.0, 1)
    with pytest.raises(ConfigError, match="1 CPU"):
        pool_size(1, None)


def test_ray_engine_writes_the_local_outputs_and_names_a_corrupt_file(
        local_ray, frames: Path, tmp_path: Path, capsys) -> None:
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert cli_main(["predict", "default", str(frames), "-o", str(local)]) == 0
    bad = frames.parent / "bad" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes((frames / sorted(os.listdir(frames))[0]).read_bytes()[:300])  # truncated
    capsys.readouterr()
    # a hung actor pool must not hang CI: dump the stacks and exit. Generous: on a 2-core machine
    # shared with two trainings this call alone took 210 s (about 60 s idle).
    faulthandler.dump_traceback_later(900, exit=True, file=sys.__stderr__)
    try:
        rc = cli_main(["predict", "default", str(frames), str(bad), "-o", str(remote),
                       "--engine", "ray", "--ray-actors", "2", "--batch-size", "3"])
    finally:
        faulthandler.cancel_dump_traceback_later()
    err = capsys.readouterr().err
    assert rc == 2
    assert f"failed: {bad}: corrupt or truncated image" in err
    assert "1 of 21 file(s) could not be segmented" in err.splitlines()[-1]
    names = sorted(os.listdir(local))
    assert len(names) == 60 and sorted(os.listdir(remote)) == names  # nothing for broken.jpg
    for name in names:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
