"""``semseg pretrained``: list the named pretrained models and fetch their weights."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg pretrained list`` and ``semseg pretrained fetch NAME``."""
    p = sub.add_parser("pretrained", help="list named pretrained models; fetch their weights")
    psub = p.add_subparsers(dest="pretrained_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="names, datasets, classes, input size, cached or not")
    ls.add_argument("--weights-dir", metavar="DIR", help="mirror folder to look in")
    ls.set_defaults(func=run_list)
    f = psub.add_parser("fetch", help="put verified weights into the cache (mirror or download)")
    f.add_argument("names", metavar="NAME", nargs="+", help="pretrained model names")
    f.add_argument("--weights-dir", metavar="DIR",
                   help="mirror folder used before the network (default $SEMSEG_WEIGHTS_MIRROR)")
    f.set_defaults(func=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    """Print a table of the pretrained models."""
    from rich.console import Console
    from rich.table import Table

    from semseg.hub import pretrained as hub

    table = Table()
    for col in ("name", "dataset", "classes", "input", "weights"):
        table.add_column(col, no_wrap=True)
    for name in hub.list_pretrained():
        e = hub.pretrained_entry(name)
        size = f"{e.input_size[0]}x{e.input_size[1]}" if e.input_size else "any"
        if e.bundled:
            where = "bundled" if (hub.BUNDLED_DIR / e.file_name).is_file() else "bundled (missing)"
        else:
            where = "cached" if (hub.cache_dir() / e.file_name).is_file() else "not cached"
        table.add_row(name, e.info.name, str(e.info.num_classes), size, where)
    console = Console()
    console.print(table)
    console.print(f"cache: {hub.cache_dir()} (${hub.CACHE_ENV}); mirror: ${hub.MIRROR_ENV}",
                  highlight=False, soft_wrap=True)
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """Resolve each name's weights (verifying sha256) and print where they are."""
    from semseg.hub import pretrained as hub

    for name in args.names:
        hub.pretrained_entry(name)  # unknown names fail before any download
    for name in args.names:
        print(f"{name}: {hub.resolve_weights(name, args.weights_dir)}")
    return 0
