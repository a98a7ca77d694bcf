"""semseg.tools.benchmark and semseg.tools.memory: counts and bytes on hand-built modules, model
loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from semseg.data.camvid import INFO as CAMVID
from semseg.errors import ConfigError
from semseg.hub.checkpoint import ModelSpec, save_checkpoint
from semseg.tools.benchmark import (
    LoadedModel,
    benchmark,
    check_options,
    count_gflops,
    count_params,
    latency_stats,
)
from semseg.tools.memory import forward_peak_bytes, state_bytes

TINY_UNET = {"base_width": 8}


class SkipBlock(nn.Module):
    """conv -> relu, then relu + conv: the conv output stays alive until the add."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (1, 4, 8, 8): 1024 bytes
        z = torch.relu(y)  # another 1024
        return z + y  # a third 1024 while y and z are alive


def test_count_params_excludes_buffers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    assert count_params(model) == 3 * 4 + 4 + 4 + 4


def test_gflops_are_two_per_multiply_accumulate() -> None:
    gflops = count_gflops(lambda: nn.Conv2d(3, 4, 3, padding=1, bias=False), 3, (8, 10))
    macs = 4 * 3 * 3 * 3 * 8 * 10  # out channels * in channels * kernel * output pixels
    assert gflops == pytest.approx(2 * macs / 1e9)


def test_latency_stats_percentiles_and_throughput() -> None:
    stats = latency_stats([0.004, 0.001, 0.003, 0.002], batch=2)
    assert stats["p50_ms"] == pytest.approx(2.5)
    assert stats["p90_ms"] == pytest.approx(3.7)  # linear interpolation between 3 and 4 ms
    assert stats["mean_ms"] == pytest.approx(2.5)
    assert (stats["min_ms"], stats["max_ms"]) == pytest.approx((1.0, 4.0))
    assert stats["fps"] == pytest.approx(2 * 1000 / 2.5)
    with pytest.raises(ConfigError):
        latency_stats([], batch=1)


def test_forward_peak_counts_tensors_alive_together() -> None:
    x = torch.randn(1, 3, 8, 8)
    assert forward_peak_bytes(SkipBlock(), x) == 3 * 4 * 8 * 8 * 4
    # a chain frees each intermediate once the next op has consumed it
    chain = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.ReLU(), nn.ReLU())
    assert forward_peak_bytes(chain, x) == 2 * 4 * 8 * 8 * 4
    inplace = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(inplace=True))
    assert forward_peak_bytes(inplace, x) == 4 * 8 * 8 * 4


def test_state_bytes_counts_parameters_and_buffers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    # 24 float parameters, running mean and var (8 floats), num_batches_tracked (one int64)
    assert state_bytes(model) == 24 * 4 + 8 * 4 + 8


def test_rss_peak_sees_a_large_allocation() -> None:
    # In a fresh interpreter: inside a long test session, freed memory that is still resident
    # can absorb the allocation without raising the resident peak.
    code = (
        "import numpy as np\n"
        "from semseg.tools.memory import RssPeak\n"
        "with RssPeak() as rss:\n"
        "    block = np.ones(64 * 2**20, dtype=np.uint8)  # touched pages: 64 MiB resident\n"
        "    del block\n"
        "print(rss.bytes, 'clear_refs' in rss.method)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    if out[1] != "True":
        pytest.skip("the resident-set peak cannot be reset on this system")
    assert int(out[0]) >= 60 * 2**20


def test_loaded_model_records_its_source(tmp_path: Path) -> None:
    """LoadedModel.load is semseg.load with architecture names allowed (the rule and its errors
    are tested in test_loading.py); the report keeps which source the name resolved to."""
    loaded = LoadedModel.load("unet", arch_kwargs=TINY_UNET)
    assert loaded.source == "architecture" and not loaded.model.training
    assert loaded.spec.info.classes == CAMVID.classes
    assert LoadedModel.load("enet", num_classes=3).spec.info.classes == ("class0", "class1",
                                                                          "class2")
    spec = ModelSpec(arch="unet", info=CAMVID, arch_kwargs=TINY_UNET)
    ckpt = save_checkpoint(tmp_path / "run" / "best.pt", spec.build(), spec, epoch=1)
    loaded = LoadedModel.load(str(ckpt))
    assert loaded.source == "checkpoint" and loaded.spec.arch_kwargs == TINY_UNET
    assert LoadedModel.load("default").source == "pretrained"
    with pytest.raises(ConfigError, match="apply only to architecture names"):
        LoadedModel.load(str(ckpt), arch_kwargs=TINY_UNET)


@pytest.mark.parametrize(
    ("option", "value"),
    [("size", (0, 96)), ("batch", 0), ("threads", 0), ("runtimes", ("tensorrt",)),
     ("warmup", -1), ("iters", -1)],
)
def test_check_options_names_the_bad_option(option: str, value: object) -> None:
    options = {"size": (64, 96), "batch": 1, "threads": 1, "device": "cpu",
               "runtimes": ("torch",), "warmup": 0, "iters": 1, option: value}
    with pytest.raises(ConfigError, match=f"bad benchmark {option}"):
        check_options(**options)


def test_iters_zero_measures_size_only() -> None:
    loaded = LoadedModel.load("unet", arch_kwargs=TINY_UNET)
    report = benchmark(loaded, size=(64, 96), threads=1, iters=0)
    assert report.runtimes == {}
    assert report.params == count_params(loaded.model)
    assert report.gflops == pytest.approx(
        count_gflops(loaded.spec.build, 3, (64, 96)))
    assert len(report.load_average) == 3


def test_torch_runtime_reports_memory_above_the_weights() -> None:
    loaded = LoadedModel.load("unet", arch_kwargs=TINY_UNET)
    previous = torch.get_num_threads()
    report = benchmark(loaded, size=(32, 48), threads=previous + 1, warmup=1, iters=2)
    assert report.threads == previous + 1 and torch.get_num_threads() == previous
    torch_result = report.runtimes["torch"]
    assert torch_result.peak_memory_mb * 1e6 > state_bytes(loaded.model)
    assert torch_result.min_ms <= torch_result.p50_ms <= torch_result.max_ms
