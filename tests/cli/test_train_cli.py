"""``semseg train``'s flags are generated from ``TrainConfig``: every field, typed, with help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import semseg.training.train as train_module
from semseg.cli import main
from semseg.training.config import TrainConfig


@pytest.fixture
def trained(monkeypatch) -> list[TrainConfig]:
    """The configs ``semseg train`` would train with (training itself replaced)."""
    configs: list[TrainConfig] = []

    def fake_main(cfg: TrainConfig, resume: bool = False) -> dict:
        configs.append(cfg)
        return {"best_miou": 0.5, "out_dir": cfg.out_dir}

    monkeypatch.setattr(train_module, "main", fake_main)
    return configs


def test_help_lists_every_field_with_its_help_and_default(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for f in dataclasses.fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in text, f.name
    assert "--hflip, --no-hflip random horizontal flips" in text
    assert "--crop-size HxW HxW random crop after random scaling (default 360x480)" in text
    assert "--scale-range MIN,MAX MIN,MAX random scale factors (default 0.5,2.0)" in text
    assert "-o OUT_DIR, --out-dir OUT_DIR" in text


def test_flags_reach_the_config_and_win_over_the_file(tmp_path: Path, trained) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 2e-3\nhflip: false\nmomentum: 0.5\neval_size: 32x48\n"
                        "crop_size: [16, 16]\n")
    args = ["train", "--config", str(cfg_file), "--device", "cpu", "--threads", "1",
            "--crop-size", "64x96", "--scale-range", "0.75,1.5", "--no-amp", "--sync-bn",
            "--no-pretrained", "--dist-timeout", "30", "--arch-kwargs", '{"decoder_channels": 8}',
            "-o", str(tmp_path / "run")]
    assert main(args) == 0
    cfg = trained[-1]
    assert cfg.lr == 0.002 and type(cfg.lr) is float  # YAML 1.1 reads 2e-3 as a string
    assert (cfg.hflip, cfg.momentum, cfg.eval_size) == (False, 0.5, (32, 48))  # from the file
    assert (cfg.crop_size, cfg.scale_range) == ((64, 96), (0.75, 1.5))  # flags win
    assert (cfg.amp, cfg.sync_bn, cfg.pretrained_backbone, cfg.dist_timeout_s) == (
        False, True, False, 30.0)
    assert cfg.arch_kwargs == {"decoder_channels": 8} and cfg.out_dir == str(tmp_path / "run")
    assert main([*args, "--hflip", "--eval-size", "none", "--crop-size", "40,60"]) == 0
    assert (trained[-1].hflip, trained[-1].eval_size, trained[-1].crop_size) == (
        True, None, (40, 60))


@pytest.mark.parametrize(("args", "text", "needle"), [
    (["--batch-size", "8.5"], "", "option --batch-size: '8.5' is not a valid int"),
    ([], "batch_size: 8.5\n", "c.yaml: batch_size: 8.5 is not a valid int"),
    (["--crop-size", "64x"], "", "option --crop-size: '64x' is not a valid list of 2 int values"),
    (["--hflip"], "hflip: maybe\n", "c.yaml: hflip: 'maybe' is not a valid bool"),
    (["--arch-kwargs", "[1]"], "", "option --arch-kwargs: '[1]' is not a valid dict"),
    (["--device", "tpu"], "", "device 'tpu': expected auto, cpu, cuda or cuda:N"),
    (["--arch-kwargs", '{"foo": 1}', "--nproc", "2"], "",  # before torchrun starts
     "model 'litefpn' has no parameter(s) foo; accepted: decoder_channels"),
])
def test_bad_values_are_one_line_naming_the_field(tmp_path: Path, capsys, monkeypatch, trained,
                                                  args, text, needle) -> None:
    monkeypatch.chdir(tmp_path)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(text or "{}\n")
    assert main(["train", "--config", str(cfg_file), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("semseg train: error:") and needle in err
    assert not trained and not (tmp_path / "runs").exists()
