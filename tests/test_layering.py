"""Imports point down: every module of src/semseg, parsed with `ast`, imports only its own layer
or lower ones; the CLI sits on top and nothing in the library reaches into benchmarks/.

The import graph counts absolute ``semseg.*`` imports, relative imports, imports inside functions
and ``importlib.import_module("semseg....")`` calls. A module's layer is looked up in LAYERS by
its dotted name below ``semseg``, longest prefix first ("cli.compare" -> "cli"); every
sub-package must be listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Higher numbers sit higher: a module may import from its own layer and from any lower one.
# The order is the README's layout table; a sub-package missing here fails
# test_every_package_has_a_layer.
LAYERS: dict[str, int] = {
    "": 0,  # semseg/__init__.py: the version and lazily loaded public names
    "errors": 0, "threads": 0, "device": 0,  # exception types, thread and device defaults
    "fileio": 1,  # images, file types, video, TFLite flatbuffers
    "visualize": 2,  # colour masks, overlays, legends
    "data": 3,  # DatasetInfo, one reader per dataset, transforms, geometry
    "models": 4,  # architectures, backbones, the registry
    "hub": 5,  # checkpoints, pretrained names, the one loader
    "export": 6,  # ONNX export, ONNX Runtime graphs
    "inference": 7,  # Segmenter, the logits path, results, uncertainty
    "metrics": 8,  # confusion matrix, boundary scores, the evaluation loop
    "points": 9,  # point supervision (a training option)
    "training": 10,  # TrainConfig, the loop, losses, transfer, DDP
    "tools": 11,  # benchmarks, memory, reports
    "forest": 12, "lidar": 12, "serve": 12, "compat": 12,  # applications of the above
    "cli": 13, "__main__": 13,  # argparse front end: `semseg ...`
}

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "semseg"


def module_name(path: Path) -> str:
    """``src/semseg/cli/compare.py`` -> ``semseg.cli.compare``; a package's ``__init__`` -> it."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str:
    """The longest prefix of ``name`` that is a module of the tree (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return name


def _import_module_target(call: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("semseg.x")`` or ``(f"semseg.cli.{name}")``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name != "import_module" or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).rstrip(".")  # the fixed prefix: its package
    return None


def imports_of(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """Every module ``module`` imports (anywhere in its code), resolved to names in ``modules``
    where they are part of the tree and kept as written otherwise."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name`: name is a submodule when the tree has one, else an attribute
            found.update(_resolve(f"{base}.{alias.name}", modules) for alias in node.names)
        elif isinstance(node, ast.Call) and (target := _import_module_target(node)):
            found.add(target)
    return {_resolve(name, modules) for name in found}


def layer_of(module: str) -> int:
    """Layer of a ``semseg.*`` module from LAYERS (longest listed prefix); KeyError if none."""
    parts = module.split(".")[1:]
    for end in range(len(parts), -1, -1):
        key = ".".join(parts[:end])
        if key in LAYERS and (end or not parts):
            return LAYERS[key]
    raise KeyError(f"{module}: no layer in LAYERS")


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports, for every .py file under src/semseg."""
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    modules = set(files)
    return {
        name: imports_of(path.read_text(), name, path.name == "__init__.py", modules)
        for name, path in files.items()
    }


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_graph_sees_every_kind_of_import(graph):
    # a top-level absolute import, a relative import, an import inside a function, import_module
    assert "semseg.cli" in graph["semseg.__main__"]
    assert "semseg.metrics.scoring" in graph["semseg.metrics.confusion"]
    assert "semseg.tools.report" in graph["semseg.cli.compare"]  # also inside run()
    assert len(graph) > 100


def test_relative_and_from_package_imports_resolve():
    modules = {"semseg", "semseg.data", "semseg.data.camvid", "semseg.data.info", "semseg.hub",
               "semseg.cli", "semseg.cli.compare", "semseg.tools.report"}
    source = (
        "from . import camvid\nfrom .info import DatasetInfo\nfrom .. import hub\n"
        "from semseg import __version__\n"
        "def f():\n    import semseg.cli.compare\n"
        "    importlib.import_module('semseg.tools.report').collect\n"
        "    import_module(f'semseg.cli.{name}')\n"
    )
    assert imports_of(source, "semseg.data.voc", False, modules) == {
        "semseg.data.camvid", "semseg.data.info", "semseg.hub", "semseg", "semseg.cli.compare",
        "semseg.tools.report", "semseg.cli"}
    assert imports_of("from .camvid import INFO\n", "semseg.data", True, modules) == {
        "semseg.data.camvid"}


def test_layer_table():
    assert layer_of("semseg.cli.compare") == layer_of("semseg.__main__") == LAYERS["cli"]
    assert layer_of("semseg.metrics.confusion") == layer_of("semseg.metrics") == LAYERS["metrics"]
    assert layer_of("semseg") == 0 < layer_of("semseg.data.camvid") < layer_of("semseg.models.enet")
    with pytest.raises(KeyError):
        layer_of("semseg.newpackage.module")


def test_every_package_has_a_layer(graph):
    missing = sorted(m for m in graph if not _has_layer(m))
    assert not missing, f"add these to LAYERS (and the README layout table): {missing}"


def _has_layer(module: str) -> bool:
    try:
        layer_of(module)
    except KeyError:
        return False
    return True


def test_imports_point_down(graph):
    upward = [
        f"{src} (layer {layer_of(src)}) imports {dst} (layer {layer_of(dst)})"
        for src, targets in sorted(graph.items())
        for dst in sorted(targets)
        if dst.split(".")[0] == "semseg" and layer_of(dst) > layer_of(src)
    ]
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def test_only_the_cli_imports_the_cli(graph):
    users = sorted(src for src, targets in graph.items()
                   if any(t == "semseg.cli" or t.startswith("semseg.cli.") for t in targets))
    outside = [m for m in users if not (m.startswith("semseg.cli") or m == "semseg.__main__")]
    assert not outside, f"library modules importing semseg.cli: {outside}"
    assert "semseg.__main__" in users


def test_library_does_not_import_benchmarks(graph):
    bad = sorted(f"{src} imports {dst}" for src, targets in graph.items() for dst in targets
                 if dst.split(".")[0] == "benchmarks" or dst.startswith("benchmarks_"))
    assert not bad, "\n".join(bad)


def test_readme_layout_table_lists_every_folder():
    readme = (SRC.parent / "README.md").read_text()
    table = readme[readme.index("## Layout"):]
    folders = sorted(p.name for p in PACKAGE.iterdir()
                     if p.is_dir() and not p.name.startswith("__"))
    missing = [f for f in folders if f"{f}/`" not in table]
    assert not missing, f"README layout table lacks {missing}"
    assert set(LAYERS) - {""} >= {f for f in folders if (PACKAGE / f / "__init__.py").exists()}
