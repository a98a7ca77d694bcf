"""TrainConfig: files and overrides map onto fields; bad values name themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from semseg.errors import ConfigError
from semseg.training.config import make_config


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


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("lr: 2e-3", "lr", 0.002),  # YAML 1.1 reads this as the string "2e-3"
    ("weight_decay: 1", "weight_decay", 1.0),
    ("crop_size: 240x320", "crop_size", (240, 320)),
    ("scale_range: [0.5, 1]", "scale_range", (0.5, 1.0)),
    ("eval_size: null", "eval_size", None),
    ("amp: false", "amp", False),
])
def test_yaml_values_are_coerced_to_the_field_type(tmp_path: Path, text, field, expected) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text + "\n")
    value = getattr(make_config(cfg_file), field)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("text", "needle"), [
    ("batch_size: 8.5", "batch_size: 8.5 is not a valid int"),
    ("lr: fast", "lr: 'fast' is not a valid float"),
    ("hflip: maybe", "hflip: 'maybe' is not a valid bool"),
    ("crop_size: [1, 2, 3]", "crop_size: [1, 2, 3] is not a valid list of 2 int values"),
    ("arch_kwargs: 3", "arch_kwargs: 3 is not a valid dict"),
])
def test_wrong_types_name_file_field_and_value(tmp_path: Path, text, needle) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        make_config(cfg_file)
    assert str(err.value) == f"{cfg_file}: {needle}"


def test_wrong_override_names_the_option() -> None:
    with pytest.raises(ConfigError, match="option --batch-size: 'x' is not a valid int"):
        make_config(batch_size="x")


def test_unknown_arch_kwarg_lists_accepted_parameters(tmp_path: Path, capsys) -> None:
    from semseg.cli import main

    code = main(["train", "--arch", "litefpn", "--arch-kwargs", '{"foo": 1}', "--data",
                 str(tmp_path / "none"), "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "no parameter(s) foo; accepted: decoder_channels" in err[0]
    assert not (tmp_path / "run").exists()
