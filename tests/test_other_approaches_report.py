"""benchmarks/other_approaches.py renders the report from stored results without running them."""

from __future__ import annotations

import json


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_render_only_reports_stored_rows_and_lists_missing(benchmark_script, tmp_path):
    mod = benchmark_script("other_approaches")
    runs = tmp_path / "runs"
    folder = runs / "forest" / "pixel-pair"
    (folder / "forest.npz").parent.mkdir(parents=True)
    (folder / "forest.npz").write_bytes(b"x" * 250_000)
    _write(folder / "train.cmd.json", {"command": "semseg forest train X", "wall_s": 120.0,
                                       "cpu_s": 60.0, "load_avg_1min": 3.0})
    for smooth, miou in ((0, 0.25), (5, 0.3)):
        _write(folder / f"eval_smooth{smooth}.json", {"miou": miou, "pixel_acc": 0.5,
                                                      "boundary_f": 0.125})
        _write(folder / f"eval_smooth{smooth}.cmd.json", {"command": f"semseg forest eval {smooth}",
                                                          "wall_s": 1.0, "cpu_s": 1.0})
    _write(folder / "timing.json", {"threads_1": {"cpu_ms": 400.0, "wall_ms": 800.0},
                                    "threads_2": {"cpu_ms": 410.0, "wall_ms": 700.0}})
    doc = tmp_path / "report.md"
    assert mod.main([str(runs), "--render-only", "--doc", str(doc), "--sections", "forest"]) == 0
    text = doc.read_text()
    assert "| pixel-pair | 25.0 | 50.0 | 12.5 | 400 (800) | 700 | 0.25 MB | 1.0 CPU min (2.0 min " \
           "wall) |" in text
    assert "| pixel-pair + smoothing (5 it.) | 30.0 |" in text
    assert "semseg forest train X" in text and "load average 3 to 3" in text
    assert "learned, cnn-head, cnn" in text  # no results: listed, not invented
