"""Training progress: a live bar (or plain lines in logs), JSON lines, and a loss/mIoU plot."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from semseg.fileio.images import atomic_write

Report = Callable[[int, int, float, float, float], None]


def read_log(path: Path) -> list[dict]:
    """Every record of a ``log.jsonl`` in file order ([] if there is none yet).

    A run resumed from an earlier checkpoint logs some epochs again; where one record per epoch
    is wanted, ``{r["epoch"]: r for r in read_log(path)}`` keeps each epoch's latest try.
    """
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class TrainLog:
    """Writes ``log.jsonl`` and ``curves.png`` in the run folder and shows progress."""

    def __init__(self, out_dir: Path, total_epochs: int, live: bool) -> None:
        self.path = out_dir / "log.jsonl"
        self.plot_path = out_dir / "curves.png"
        self.total_epochs = total_epochs
        self.live = live

    @contextlib.contextmanager
    def epoch(self, epoch: int) -> Iterator[Report]:
        """Context giving a ``report(step, steps, loss, lr, img_per_s)`` callback."""
        label = f"epoch {epoch}/{self.total_epochs}"
        if not self.live:
            last = [0.0]

            def report(step: int, steps: int, loss: float, lr: float, ips: float) -> None:
                if step == steps or time.monotonic() - last[0] > 30:
                    last[0] = time.monotonic()
                    print(f"{label} step {step}/{steps} loss {loss:.4f} lr {lr:.2e} "
                          f"{ips:.1f} img/s", flush=True)

            yield report
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                   TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task(label, total=None, info="")

            def report(step: int, steps: int, loss: float, lr: float, ips: float) -> None:
                bar.update(task, completed=step, total=steps,
                           info=f"loss {loss:.4f} lr {lr:.2e} {ips:.1f} img/s")

            yield report

    def write(self, record: dict) -> None:
        """Append one epoch's record and print a summary line."""
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        parts = [f"epoch {record['epoch']}", f"loss {record['loss']:.4f}",
                 f"{record['images_per_s']:.1f} img/s"]
        if record.get("miou") is not None:
            parts.append(f"val mIoU {100 * record['miou']:.2f}")
        print(" | ".join(parts), flush=True)

    def plot(self) -> Path | None:
        """Loss and validation mIoU per epoch as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        # a resumed epoch replaces its first try
        recs = {r["epoch"]: r for r in read_log(self.path)}
        if not recs:
            return None
        epochs = sorted(recs)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(epochs, [recs[e]["loss"] for e in epochs], color="tab:blue", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        val = [e for e in epochs if recs[e].get("miou") is not None]
        if val:
            ax2 = ax.twinx()
            ax2.plot(val, [100 * recs[e]["miou"] for e in val], "o-", color="tab:orange",
                     label="val mIoU")
            ax2.set_ylabel("val mIoU (%)")
        fig.tight_layout()
        atomic_write(self.plot_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        plt.close(fig)
        return self.plot_path
