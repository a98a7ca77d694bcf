"""TrainConfig: files and overrides map onto fields; bad values name themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from semseg.config import make_config
from semseg.errors import ConfigError


def test_file_then_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('epochs = 7\ncrop_size = [64, 96]\narch = "unet"\n')
    cfg = make_config(f, epochs=9, lr=None)
    assert (cfg.epochs, cfg.crop_size, cfg.arch, cfg.lr) == (9, (64, 96), "unet", 2e-3)


def test_yaml_and_unknown_keys(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 2\nepoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['epoch'\]"):
        make_config(f)


@pytest.mark.parametrize("field,value", [("optimizer", "adam"), ("epochs", 0),
                                         ("crop_size", (4, 4)), ("device", "tpu")])
def test_invalid_values(field: str, value) -> None:
    with pytest.raises(ConfigError, match=field):
        make_config(**{field: value})


def test_unparsable_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: cannot parse"):
        make_config(f)
