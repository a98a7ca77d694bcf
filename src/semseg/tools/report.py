"""Many results in one speed/accuracy table and plot: the library behind ``semseg compare``.

Each input is a training run folder (``config.json``, ``log.jsonl``, ``best.pt``, and the
``eval.json``/``bench.json`` that ``benchmarks/zoo.py`` writes beside them), a ``semseg eval
--json`` report, or a ``semseg bench --json`` report. Results are merged into one `Row` per model:
a run folder is named after the folder; a JSON report after its ``model`` field (a checkpoint
``.../NAME/best.pt`` counts as ``NAME``). For a field given twice, the later input wins.

Example:
    >>> from semseg.tools.report import collect, markdown_table       # doctest: +SKIP
    >>> rows = collect(["runs/enet", "unet-eval.json", "unet-bench.json"])
    >>> print(markdown_table(rows))
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semseg.errors import ConfigError, InputFileError

BEGIN, END = "<!-- semseg compare: begin -->", "<!-- semseg compare: end -->"
COLUMNS = ("model", "arch", "params (M)", "GFLOPs", "CPU ms (p50)", "ORT ms (p50)",
           "val mIoU (%)", "pixel acc (%)", "boundary F (%)", "latency conditions")


@dataclass
class Row:
    """Everything known about one model; None where no input said it."""

    model: str
    arch: str | None = None
    params: int | None = None
    gflops: float | None = None
    cpu_ms: float | None = None  # eager torch on the CPU, p50 per batch
    ort_ms: float | None = None  # ONNX Runtime on the CPU, p50 per batch
    miou: float | None = None  # fractions in 0..1
    pixel_acc: float | None = None
    boundary_f: float | None = None
    conditions: str = ""
    sources: list[str] = field(default_factory=list)


def model_label(model: str) -> str:
    """A report's ``model`` field as a row name: ``runs/unet/best.pt`` -> ``unet``."""
    p = Path(model)
    if p.suffix in (".pt", ".safetensors") and p.parent.name:
        return p.parent.name if p.stem in ("best", "last") else p.stem
    return model


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected a JSON object from semseg eval or semseg bench")
    return data


def _conditions(bench: dict[str, Any]) -> str:
    h, w = bench["input_size"]
    if not bench["runtimes"]:
        return f"{h}x{w}, size only (not timed)"
    loads = "/".join(f"{r['load_average_before'][0]:.2f}" for r in bench["runtimes"].values())
    threads = f"{bench['threads']} thread" + ("s" if bench["threads"] != 1 else "")
    text = f"{h}x{w}, batch {bench['batch']}, {threads}, {bench['device']}"
    return text + (f", load {loads}" if loads else "")


def apply_bench(row: Row, bench: dict[str, Any], source: str) -> None:
    """Copy size and latency from a ``semseg bench`` report into ``row``."""
    row.arch, row.params, row.gflops = bench["arch"], bench["params"], bench["gflops"]
    runtimes = bench.get("runtimes", {})
    if bench.get("device") == "cpu":
        if "torch" in runtimes:
            row.cpu_ms = runtimes["torch"]["p50_ms"]
        if "onnxruntime" in runtimes:
            row.ort_ms = runtimes["onnxruntime"]["p50_ms"]
    row.conditions = _conditions(bench)
    row.sources.append(source + (" (random weights)" if bench.get("source") == "architecture"
                                 else ""))


def apply_eval(row: Row, report: dict[str, Any], source: str) -> None:
    """Copy accuracy from a ``semseg eval`` report into ``row``."""
    row.miou, row.pixel_acc = report.get("miou"), report.get("pixel_acc")
    row.boundary_f = report.get("boundary_f")
    images = f", {report['images']} images" if "images" in report else ""
    row.sources.append(f"{source} ({report.get('split', '?')} split{images})")


def _is_bench(data: dict[str, Any]) -> bool:
    return data.get("kind") == "semseg-bench"


def _is_eval(data: dict[str, Any]) -> bool:
    return "miou" in data and "pixel_acc" in data


def read_run_folder(folder: Path, rows: dict[str, Row]) -> None:
    """Merge a training run folder (and its eval.json / bench.json) into ``rows``."""
    markers = ("config.json", "log.jsonl", "best.pt", "eval.json", "bench.json")
    if not any((folder / m).is_file() for m in markers):
        raise InputFileError(f"{folder}: not a run folder (none of {', '.join(markers)})")
    row = rows.setdefault(folder.name, Row(folder.name))
    if (folder / "config.json").is_file():
        row.arch = _read_json(folder / "config.json").get("arch", row.arch)
    if (folder / "bench.json").is_file():
        apply_bench(row, _read_json(folder / "bench.json"), str(folder / "bench.json"))
    elif (folder / "best.pt").is_file():
        row.params = _params_of_checkpoint(folder / "best.pt")
    if (folder / "eval.json").is_file():
        apply_eval(row, _read_json(folder / "eval.json"), str(folder / "eval.json"))
    elif (folder / "log.jsonl").is_file():
        _apply_log(row, folder / "log.jsonl")
    if (folder / "train_summary.json").is_file():  # written by benchmarks/zoo.py
        row.sources.append(_training_line(_read_json(folder / "train_summary.json")))


def _training_line(t: dict[str, Any]) -> str:
    """'trained 2 epochs (62 steps of batch 8, 4.1 min) on cpu' from a train_summary.json."""
    detail = []
    if t.get("steps") and t.get("batch_size"):
        detail.append(f"{t['steps']} steps of batch {t['batch_size']}")
    if t.get("train_s"):
        detail.append(f"{t['train_s'] / 60:.1f} min")
    extra = f" ({', '.join(detail)})" if detail else ""
    return f"trained {t.get('epochs')} epochs{extra} on {t.get('gpu') or t.get('device')}"


def _apply_log(row: Row, path: Path) -> None:
    """Best validation epoch of a training log (no boundary F: the trainer does not score it)."""
    from semseg.training.log import read_log

    scored = [r for r in read_log(path) if r.get("miou") is not None]
    if scored:
        best = max(scored, key=lambda r: r["miou"])
        row.miou, row.pixel_acc = best["miou"], best.get("pixel_acc")
        row.sources.append(f"{path} (epoch {best['epoch']} validation)")


def _params_of_checkpoint(path: Path) -> int:
    import torch

    from semseg.hub.checkpoint import ModelSpec, load_checkpoint

    spec = ModelSpec.from_dict(load_checkpoint(path)["spec"])
    with torch.device("meta"):
        return sum(p.numel() for p in spec.build().parameters())


def collect(inputs: list[str]) -> list[Row]:
    """Rows, in first-seen order, merged from run folders and eval/bench JSON files."""
    rows: dict[str, Row] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            read_run_folder(path, rows)
            continue
        if not path.is_file():
            raise InputFileError(f"{path}: no such run folder or JSON file")
        data = _read_json(path)
        if not (_is_bench(data) or _is_eval(data)):
            raise InputFileError(f"{path}: neither a semseg bench report (kind 'semseg-bench') "
                                 "nor a semseg eval report (miou, pixel_acc)")
        label = model_label(str(data.get("model", path.stem)))
        row = rows.setdefault(label, Row(label))
        (apply_bench if _is_bench(data) else apply_eval)(row, data, str(path))
    return list(rows.values())


def _num(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def markdown_table(rows: list[Row]) -> str:
    """The comparison as a Markdown table, one line per model."""
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---:|" * (len(COLUMNS) - 3) + "---|"]
    for r in rows:
        cells = (f"`{r.model}`", r.arch or "-", _num(r.params, 1e-6, 2), _num(r.gflops),
                 _num(r.cpu_ms), _num(r.ort_ms), _num(r.miou, 100), _num(r.pixel_acc, 100),
                 _num(r.boundary_f, 100), r.conditions or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(rows: list[Row], command: str, plot_link: str) -> str:
    """Table, definitions and sources, as written to benchmarks.md and into ``--doc``."""
    notes = [
        f"Generated by `{command}`; do not edit by hand.",
        "",
        markdown_table(rows),
        "",
        "GFLOPs per image: FLOPs = 2 x multiply-accumulates of convolutions and matrix "
        "products, as counted by `torch.utils.flop_counter.FlopCounterMode`. Latency: median "
        "wall time of one batch after warm-up (`semseg bench`); 'load' is the host's 1-minute "
        "load average before the torch / ONNX Runtime timings; on a machine with fewer cores "
        "than the load, the latencies are inflated. mIoU, pixel accuracy and boundary F (2 px "
        "tolerance unless the eval report says otherwise) come from `semseg eval` reports, or "
        "from the best validation epoch of the training log (no boundary F).",
        "",
        f"![speed vs accuracy]({plot_link})",
        "",
        "Sources:",
        "",
    ]
    notes += [f"- `{r.model}`: {', '.join(r.sources) or '-'}" for r in rows]
    return "\n".join(notes) + "\n"


def plot_speed_accuracy(rows: list[Row], path: Path, x_axis: str = "cpu") -> int:
    """Scatter latency vs val mIoU (Agg backend, atomic write); returns the points drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from semseg.fileio.images import atomic_write

    attr, label = ("cpu_ms", "eager torch") if x_axis == "cpu" else ("ort_ms", "ONNX Runtime")
    points = [(getattr(r, attr), 100 * r.miou, r.model) for r in rows
              if getattr(r, attr) is not None and r.miou is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for x, y, name in points:
        ax.scatter(x, y, color="tab:blue")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if points:
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 300, not 3 x 10^2
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
    else:
        ax.text(0.5, 0.5, "no model has both a latency and a val mIoU yet", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_xlabel(f"CPU latency, ms per batch (p50, {label}, log scale)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(f"speed vs accuracy ({len(points)} of {len(rows)} models have both)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return len(points)


def splice(doc: Path, block: str, begin: str = BEGIN, end_marker: str = END) -> None:
    """Replace the text between the ``begin`` and ``end_marker`` lines of ``doc``."""
    from semseg.fileio.images import atomic_write  # numpy + Pillow: only when writing

    text = doc.read_text() if doc.is_file() else ""
    start, end = text.find(begin), text.find(end_marker)
    if start < 0 or end < start:
        raise ConfigError(f"{doc}: no '{begin}' ... '{end_marker}' block to replace")
    new = text[: start + len(begin)] + "\n" + block + text[end:]
    atomic_write(doc, lambda tmp: Path(tmp).write_text(new))


def publish(block: str, doc: Path | None, begin: str = BEGIN, end_marker: str = END) -> None:
    """Print a generated Markdown ``block`` and, when ``doc`` is given, splice it in there."""
    print(block)
    if doc is not None:
        splice(doc, block, begin, end_marker)


def write_report(rows: list[Row], output: Path, command: str, doc: Path | None = None,
                 x_axis: str = "cpu") -> int:
    """Write benchmarks.md, benchmarks.json and speed_accuracy.png into ``output`` (and the
    ``doc`` block when given); returns the number of models on the plot."""
    from semseg.fileio.images import atomic_write

    output.mkdir(parents=True, exist_ok=True)
    plotted = plot_speed_accuracy(rows, output / "speed_accuracy.png", x_axis)
    text = report_markdown(rows, command, "speed_accuracy.png")
    atomic_write(output / "benchmarks.md", lambda tmp: Path(tmp).write_text(text))
    payload = json.dumps([asdict(r) for r in rows], indent=2)
    atomic_write(output / "benchmarks.json", lambda tmp: Path(tmp).write_text(payload + "\n"))
    if doc is not None:
        link = os.path.relpath(output / "speed_accuracy.png", doc.resolve().parent)
        splice(doc, report_markdown(rows, command, Path(link).as_posix()))
    return plotted
