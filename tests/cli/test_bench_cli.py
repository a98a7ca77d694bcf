"""``semseg bench``: JSON with every field, both runtimes, the table, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semseg.cli import main
from semseg.cli.bench import parse_model_args, parse_size
from semseg.errors import ConfigError
from semseg.models import create_model

TINY = ["unet", "--model-arg", "base_width=8", "--size", "64x96", "--threads", "1",
        "--warmup", "1"]
RUNTIME_FIELDS = {"runtime", "p50_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "std_ms", "fps",
                  "peak_memory_mb", "memory_method", "load_average_before",
                  "load_average_after", "threads", "provider"}
TOP_FIELDS = {"kind", "model", "source", "arch", "arch_kwargs", "num_classes", "input_size",
              "batch", "device", "threads", "warmup", "iters", "params", "gflops",
              "load_average", "environment", "runtimes", "flops_note"}


def _bench_json(capsys, *extra: str) -> dict:
    assert main(["bench", *TINY, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # stdout holds the JSON alone


def test_json_has_every_field_for_both_runtimes(capsys) -> None:
    report = _bench_json(capsys, "--iters", "3", "--runtime", "both", "--batch", "2")
    assert set(report) == TOP_FIELDS
    assert report["kind"] == "semseg-bench" and report["source"] == "architecture"
    assert report["arch_kwargs"] == {"base_width": 8}
    assert report["input_size"] == [64, 96] and report["batch"] == 2
    expected_params = sum(p.numel() for p in create_model("unet", 11, base_width=8).parameters())
    assert report["params"] == expected_params
    assert report["gflops"] > 0 and "2 x multiply-accumulates" in report["flops_note"]
    assert list(report["runtimes"]) == ["torch", "onnxruntime"]
    for result in report["runtimes"].values():
        assert set(result) == RUNTIME_FIELDS
        assert 0 < result["min_ms"] <= result["p50_ms"] <= result["p90_ms"] <= result["max_ms"]
        assert result["fps"] == pytest.approx(2 * 1000 / result["mean_ms"])
        assert result["peak_memory_mb"] >= 0 and result["threads"] == 1
        assert len(result["load_average_before"]) == 3
    assert report["runtimes"]["onnxruntime"]["provider"] == "CPUExecutionProvider"
    assert report["environment"]["cpu_count"] >= 1
    assert report["environment"]["onnxruntime"]


def test_onnxruntime_only_and_output_file(capsys, tmp_path: Path) -> None:
    out = tmp_path / "bench" / "unet.json"
    report = _bench_json(capsys, "--iters", "2", "--runtime", "onnxruntime", "-o", str(out))
    assert list(report["runtimes"]) == ["onnxruntime"]
    assert json.loads(out.read_text()) == report


def test_iters_zero_gives_size_only(capsys) -> None:
    report = _bench_json(capsys, "--iters", "0")
    assert report["runtimes"] == {} and report["params"] > 0


def test_table_output(capsys) -> None:
    assert main(["bench", *TINY, "--iters", "2"]) == 0
    out = capsys.readouterr().out
    assert "params 0.487 M" in out and "torch" in out and "load average" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "nope"], "unknown model 'nope'"),
        (["bench", "enet", "--size", "64by96"], "bad --size '64by96'"),
        (["bench", "enet", "--size", "0x96"], "bad --size '0x96'"),
        (["bench", "enet", "--model-arg", "width"], "bad --model-arg 'width'"),
        (["bench", "enet", "--batch", "0", "--iters", "1"], "bad benchmark batch 0"),
        (["bench", "missing/model.pt"], "model file not found"),
    ],
)
def test_errors_exit_2_with_one_line(capsys, args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("semseg bench: error:") and message in err


def test_parse_helpers() -> None:
    assert parse_size("360x480") == (360, 480)
    assert parse_size("64X96") == (64, 96)
    with pytest.raises(ConfigError):
        parse_size("360x")
    assert parse_model_args(["base_width=8", "up=bilinear", "flag=true"]) == {
        "base_width": 8, "up": "bilinear", "flag": True}
