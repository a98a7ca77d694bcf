"""``semseg compare``: run folders and eval/bench JSON merged into one table and a plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from semseg.cli import main
from semseg.tools.report import BEGIN, END, model_label


def _runtime(name: str, p50: float, load: float) -> dict:
    return {"runtime": name, "p50_ms": p50, "p90_ms": p50 + 1, "mean_ms": p50, "min_ms": p50,
            "max_ms": p50 + 2, "std_ms": 0.5, "fps": 1000 / p50, "peak_memory_mb": 10.0,
            "memory_method": "test", "load_average_before": [load, 1.0, 1.0],
            "load_average_after": [load, 1.0, 1.0], "threads": 2, "provider": ""}


def _bench(model: str, arch: str, params: int, gflops: float, **runtimes: dict) -> dict:
    return {"kind": "semseg-bench", "model": model, "source": "checkpoint", "arch": arch,
            "arch_kwargs": {}, "num_classes": 11, "input_size": [360, 480], "batch": 1,
            "device": "cpu", "threads": 2, "warmup": 5, "iters": 30, "params": params,
            "gflops": gflops, "load_average": [6.5, 6.0, 5.0], "environment": {},
            "runtimes": runtimes, "flops_note": "FLOPs = 2 x MACs"}


def _write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    """Run A: eval.json + bench.json (both runtimes). Run B: training log + torch bench only."""
    a, b = tmp_path / "runs" / "enet-a", tmp_path / "runs" / "unet-b"
    _write(a / "config.json", {"arch": "enet"})
    _write(a / "bench.json", _bench("runs/enet-a/best.pt", "enet", 363_791, 3.8312,
                                    torch=_runtime("torch", 41.26, 6.5),
                                    onnxruntime=_runtime("onnxruntime", 18.04, 6.25)))
    _write(a / "train_summary.json", {"epochs": 30, "device": "cuda", "gpu": "NVIDIA H100"})
    _write(a / "eval.json", {"model": "runs/enet-a/best.pt", "split": "val", "miou": 0.61234,
                             "pixel_acc": 0.8801, "boundary_f": 0.45678})
    _write(b / "config.json", {"arch": "unet"})
    _write(b / "train_summary.json", {"epochs": 2, "steps": 62, "batch_size": 8,
                                      "train_s": 246.0, "device": "cpu", "gpu": None})
    log = [{"epoch": 1, "loss": 1.0, "miou": 0.40, "pixel_acc": 0.70},
           {"epoch": 2, "loss": 0.8, "miou": 0.52, "pixel_acc": 0.81},
           {"epoch": 3, "loss": 0.7, "miou": 0.50, "pixel_acc": 0.82}]
    _write(b / "log.jsonl", "\n".join(json.dumps(r) for r in log) + "\n")
    _write(b / "bench.json", _bench("runs/unet-b/best.pt", "unet", 31_037_698, 218.44,
                                    torch=_runtime("torch", 1520.0, 7.1)))
    return [a, b]


def test_two_run_folders_give_the_exact_table_and_a_png(runs: list[Path], tmp_path: Path,
                                                        capsys) -> None:
    out = tmp_path / "report"
    assert main(["compare", *map(str, runs), "-o", str(out)]) == 0
    assert "2 models, 2 on the plot" in capsys.readouterr().out
    text = (out / "benchmarks.md").read_text()
    assert ("| `enet-a` | enet | 0.36 | 3.8 | 41.3 | 18.0 | 61.2 | 88.0 | 45.7 | "
            "360x480, batch 1, 2 threads, cpu, load 6.50/6.25 |") in text
    # no eval.json: the best validation epoch of the log (epoch 2), and no boundary F
    assert ("| `unet-b` | unet | 31.04 | 218.4 | 1520.0 | - | 52.0 | 81.0 | - | "
            "360x480, batch 1, 2 threads, cpu, load 7.10 |") in text
    assert "log.jsonl (epoch 2 validation)" in text and "eval.json (val split)" in text
    assert "trained 30 epochs on NVIDIA H100" in text
    assert "trained 2 epochs (62 steps of batch 8, 4.1 min) on cpu" in text
    rows = json.loads((out / "benchmarks.json").read_text())
    assert [r["model"] for r in rows] == ["enet-a", "unet-b"]
    assert rows[0]["ort_ms"] == 18.04 and rows[1]["boundary_f"] is None
    with Image.open(out / "speed_accuracy.png") as png:
        assert png.format == "PNG" and png.size[0] > 300


def test_json_reports_of_one_checkpoint_merge_into_one_row(tmp_path: Path) -> None:
    bench = _write(tmp_path / "b.json", _bench("runs/litefpn/best.pt", "litefpn", 1_000_000,
                                               2.0, onnxruntime=_runtime("onnxruntime", 9, 3)))
    ev = _write(tmp_path / "e.json", {"model": "runs/litefpn/best.pt", "split": "val",
                                      "miou": 0.7, "pixel_acc": 0.9, "boundary_f": 0.5})
    other = _write(tmp_path / "o.json", _bench("enet", "enet", 363_791, 3.8))
    out = tmp_path / "report"
    assert main(["compare", str(bench), str(ev), str(other), "-o", str(out)]) == 0
    rows = json.loads((out / "benchmarks.json").read_text())
    assert [(r["model"], r["miou"], r["ort_ms"], r["cpu_ms"]) for r in rows] == [
        ("litefpn", 0.7, 9, None), ("enet", None, None, None)]
    assert rows[1]["conditions"] == "360x480, size only (not timed)"


def test_doc_block_is_replaced_and_the_rest_kept(runs: list[Path], tmp_path: Path) -> None:
    doc = _write(tmp_path / "docs" / "benchmarks.md",
                 f"# Title\n\nprose before\n\n{BEGIN}\nold table\n{END}\n\nprose after\n")
    out = tmp_path / "docs" / "results"
    assert main(["compare", *map(str, runs), "-o", str(out), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose before\n\n" + BEGIN)
    assert text.endswith(END + "\n\nprose after\n") and "old table" not in text
    assert "![speed vs accuracy](results/speed_accuracy.png)" in text
    assert "| `enet-a` | enet |" in text and "Generated by `semseg compare " in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent", "no such run folder or JSON file"),
        (lambda d: _write(d / "x.json", {"hello": 1}), "neither a semseg bench report"),
        (lambda d: _write(d / "bad.json", "{not json"), "not a readable JSON file"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "not a run folder"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, capsys, make, message: str) -> None:
    assert main(["compare", str(make(tmp_path)), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err


def test_doc_without_markers_is_an_error(runs: list[Path], tmp_path: Path, capsys) -> None:
    doc = _write(tmp_path / "plain.md", "# nothing to replace\n")
    assert main(["compare", *map(str, runs), "-o", str(tmp_path / "r"), "--doc", str(doc)]) == 2
    assert "no '<!-- semseg compare: begin -->'" in capsys.readouterr().err
    assert doc.read_text() == "# nothing to replace\n"


def test_real_bench_output_is_accepted(tmp_path: Path) -> None:
    bench = tmp_path / "unet.json"
    assert main(["bench", "unet", "--model-arg", "base_width=8", "--size", "32x48",
                 "--iters", "0", "-o", str(bench), "--json"]) == 0
    assert main(["compare", str(bench), "-o", str(tmp_path / "r")]) == 0
    (row,) = json.loads((tmp_path / "r" / "benchmarks.json").read_text())
    assert row["model"] == "unet" and row["params"] == json.loads(bench.read_text())["params"]


def test_model_label() -> None:
    assert model_label("runs/unet/best.pt") == "unet"
    assert model_label("runs/unet/last.pt") == "unet"
    assert model_label("weights/camvid.safetensors") == "camvid"
    assert model_label("default") == "default"


def test_publish_prints_and_splices_only_between_its_markers(tmp_path, capsys):
    from semseg.tools.report import publish

    doc = _write(tmp_path / "page.md", "intro\n<!-- a: begin -->\nold\n<!-- a: end -->\nrest\n")
    publish("| new |", doc, "<!-- a: begin -->", "<!-- a: end -->")
    assert doc.read_text() == "intro\n<!-- a: begin -->\n| new |<!-- a: end -->\nrest\n"
    publish("printed only", None)
    assert capsys.readouterr().out == "| new |\nprinted only\n"
