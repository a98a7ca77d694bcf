"""``--init``: pretrained TFLite-converted encoders as initialisations for training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semseg.data.camvid import INFO as CAMVID
from semseg.errors import ConfigError
from semseg.hub.checkpoint import ModelSpec, load_checkpoint
from semseg.hub.pretrained import load_pretrained
from semseg.training.train import main
from semseg.training.transfer import init_from

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


@pytest.fixture(autouse=True)
def weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not (MIRROR / "tflite").is_dir():
        pytest.skip(f"TFLite mirror {MIRROR / 'tflite'} absent")
    monkeypatch.setenv("SEMSEG_WEIGHTS_MIRROR", str(MIRROR))
    monkeypatch.setenv("SEMSEG_CACHE", str(tmp_path / "cache"))


def _camvid(arch: str) -> tuple[torch.nn.Module, ModelSpec]:
    spec = ModelSpec(arch, CAMVID)
    return spec.build(), spec


def test_voc_mobilenetv2_initialises_the_deeplabv3plus_encoder() -> None:
    model, spec = _camvid("deeplabv3plus_mobilenetv2")
    n_encoder = len([k for k in model.state_dict() if k.startswith("encoder.")])
    report = init_from(model, spec, "deeplabv3-mnv2-voc")
    assert report.prefixes == ("encoder",) and len(report.copied) == n_encoder
    source, _ = load_pretrained("deeplabv3-mnv2-voc")
    assert torch.equal(model.encoder.stem[0].weight, source.encoder.stem[0].weight)
    last = model.encoder.stages[-1][-1].conv[-1][0].weight
    assert torch.equal(last, source.encoder.stages[-1][-1].conv[-1][0].weight)


def test_same_architecture_is_copied_whole_with_its_classifier_reindexed() -> None:
    model, spec = _camvid("deeplabv3_edgetpu")
    report = init_from(model, spec, "deeplab-edgetpu-cityscapes")
    assert len(report.remapped) == 2 and not report.missing  # classifier weight + bias: 19 -> 11
    assert report.fresh_classes == [] and not report.skipped_shape
    source, src_spec = load_pretrained("deeplab-edgetpu-cityscapes")
    head = next(k for k in report.remapped if k.endswith("weight"))
    tree, vegetation = CAMVID.classes.index("tree"), src_spec.info.classes.index("vegetation")
    assert torch.equal(model.state_dict()[head][tree], source.state_dict()[head][vegetation])


def test_unrelated_architecture_is_a_one_line_error() -> None:
    model, spec = _camvid("unet")
    with pytest.raises(ConfigError, match="--init mosaic-ade20k: no tensor matches UNet"):
        init_from(model, spec, "mosaic-ade20k")


@pytest.mark.slow
def test_train_with_init(camvid_root: Path, tmp_path: Path) -> None:
    from semseg.training.config import TrainConfig

    cfg = TrainConfig(data=str(camvid_root), arch="deeplabv3_mobilenetv2",
                      pretrained_backbone=False, init="deeplabv3-mnv2-0.5-voc",
                      arch_kwargs={"width_mult": 0.5, "divisor": 1}, limit_train=2, limit_val=1,
                      batch_size=2, crop_size=(64, 96), epochs=1, steps_per_epoch=1, workers=0,
                      threads=1, lr=1e-9, out_dir=str(tmp_path / "run"))
    main(cfg)
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    source, _ = load_pretrained("deeplabv3-mnv2-0.5-voc")
    # lr 1e-9: one step leaves the initialisation in place, up to the step's tiny change
    stem = source.encoder.stem[0].weight
    assert torch.allclose(trained["encoder.stem.0.weight"], stem, atol=1e-6)


def test_cli_unknown_init_name_is_exit_2(camvid_root: Path, tmp_path: Path, capsys) -> None:
    from semseg.cli import main as cli_main

    argv = ["train", "--data", str(camvid_root), "--arch", "deeplabv3_mobilenetv2", "--init",
            "deeplabv3-mnv2-coco", "--limit-train", "2", "--limit-val", "1", "--workers", "0",
            "--threads", "1", "--no-pretrained", "-o", str(tmp_path / "run")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown model 'deeplabv3-mnv2-coco'" in err and "mosaic-ade20k" in err
    assert not (tmp_path / "run" / "last.pt").exists()
