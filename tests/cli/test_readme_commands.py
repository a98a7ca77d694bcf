"""Every `semseg ...` command shown in README.md and docs/*.md is accepted by the parser (flags,
choices, subcommands): a renamed or removed option breaks this test, not a reader's copy-paste."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from semseg.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def commands() -> list[tuple[str, str]]:
    """(file:line, command) for each `semseg` line inside a ```bash block."""
    found = []
    for doc in DOCS:
        in_block = False
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_block = line.strip() in ("```bash", "```sh", "```console")
                continue
            text = line.strip().removeprefix("$ ")
            if in_block and text.startswith("semseg ") and not text.endswith("\\"):
                found.append((f"{doc.name}:{n}", text))
    return found


COMMANDS = commands()


def test_docs_show_commands():
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_parses(where: str, command: str):
    words = shlex.split(command, comments=True)[1:]
    for i, w in enumerate(words):  # stop at a redirection or the next command of a pipeline
        if w in (">", ">>", "|", "&&", ";", "&") or w.startswith(("2>", ">")):
            words = words[:i]
            break
    words = [re.sub(r"^(N|K)$", "2", w) for w in words]  # placeholders such as `--nproc N`
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:
        pytest.fail(f"{where}: `{command}` is rejected by the parser (exit {exc.code})")
