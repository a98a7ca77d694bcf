"""Packaging as a library: the declared torch range keeps a torch the user already has.

Slow (a fresh virtualenv and a pip resolution against PyPI, about a minute): `make test-slow`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_torch_is_declared_as_a_range_and_pinned_only_by_the_constraints_file():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_dep = next(d for d in deps if d.replace(" ", "").startswith("torch"))
    assert "==" not in torch_dep and ">=" in torch_dep, torch_dep
    assert "torch==" in (REPO / "constraints.txt").read_text()
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()


@pytest.mark.slow
def test_pip_install_keeps_another_installed_torch(tmp_path: Path):
    stub = tmp_path / "stub"
    (stub / "torch").mkdir(parents=True)
    (stub / "torch" / "__init__.py").write_text('__version__ = "2.6.0"\n')
    (stub / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "torch"\nversion = "2.6.0"\n')
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "setuptools", "wheel"], check=True)
    subprocess.run([*pip, "install", "--no-build-isolation", str(stub)], check=True)
    report = tmp_path / "report.json"
    subprocess.run([*pip, "install", "--dry-run", "--report", str(report), "-e", str(REPO)],
                   check=True)
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "semseg" in names
    assert "torch" not in names and not any(n.startswith("nvidia") for n in names)
