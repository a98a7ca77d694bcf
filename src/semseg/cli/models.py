"""``semseg models [PATTERN]``: list the architecture zoo with sizes and papers."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg models``."""
    p = sub.add_parser("models", help="list registered architectures, their size and paper")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style name filter, e.g. 'fcn*'")
    p.add_argument("--num-classes", type=int, default=11,
                   help="classes used to count parameters (default 11, CamVid)")
    p.set_defaults(func=run)


def count_parameters(name: str, num_classes: int) -> int:
    """Parameters of a registered model, built on the meta device (no memory, no init cost)."""
    import torch

    from semseg.models import create_model

    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes)
    return sum(p.numel() for p in model.parameters())


def short_citation(paper: str) -> str:
    """'Authors, Title, Venue Year' -> 'Authors, Venue Year' (full text is in docs/models.md)."""
    parts = [p.strip() for p in paper.split(",")]
    return f"{parts[0]}, {parts[-1]}" if len(parts) >= 3 else (paper or "-")


def run(args: argparse.Namespace) -> int:
    """Print one row per model matching the pattern."""
    from rich.console import Console
    from rich.table import Table

    from semseg.errors import ConfigError
    from semseg.models import list_models, model_entry

    names = list_models(args.pattern)
    if not names:
        raise ConfigError(f"no model matches {args.pattern!r}; available: "
                          f"{', '.join(list_models())}")
    if args.num_classes < 1:
        raise ConfigError(f"--num-classes must be >= 1, got {args.num_classes}")
    table = Table(title=f"semseg models (parameters for {args.num_classes} classes)")
    table.add_column("name", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("paper params", justify="right", no_wrap=True)
    table.add_column("paper")
    for name in names:
        entry = model_entry(name)
        paper_params = f"{entry.paper_params / 1e6:.2f}M" if entry.paper_params else "-"
        n = count_parameters(name, args.num_classes)
        table.add_row(name, f"{n / 1e6:.2f}M", paper_params, short_citation(entry.paper))
    Console().print(table)
    return 0
