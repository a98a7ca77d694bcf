"""semseg.load: one resolution rule for names and paths, one error text, used by every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import semseg
from semseg.cli import main
from semseg.data.camvid import INFO as CAMVID
from semseg.errors import ConfigError, InputFileError, ModelError
from semseg.hub import loading
from semseg.hub.checkpoint import ModelSpec, save_checkpoint, save_release

TINY_UNET = {"base_width": 4}
STREET = Path(__file__).resolve().parents[2] / "src" / "semseg" / "assets" / "street.jpg"


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[torch.nn.Module, ModelSpec]:
    torch.manual_seed(0)
    spec = ModelSpec(arch="unet", info=CAMVID, arch_kwargs=TINY_UNET, input_size=(32, 48))
    return spec.build().eval(), spec


def test_an_existing_file_is_a_checkpoint(tiny, tmp_path: Path) -> None:
    model, spec = tiny
    pt = save_checkpoint(tmp_path / "run" / "best.pt", model, spec, epoch=1)
    release = save_release(tmp_path / "m.safetensors", model, spec)
    for path in (pt, str(pt), release):
        assert loading.resolve(path) == "checkpoint"
        got, got_spec = loading.load(path)
        assert got_spec == spec and not got.training
        for key, value in model.state_dict().items():  # fp16 release: within half precision
            torch.testing.assert_close(got.state_dict()[key], value, atol=1e-3, rtol=1e-3)


def test_a_file_wins_over_a_name_without_separator(tiny, tmp_path: Path, monkeypatch) -> None:
    model, spec = tiny
    monkeypatch.chdir(tmp_path)
    save_checkpoint(tmp_path / "unet", model, spec, epoch=1)  # a file called like an architecture
    assert loading.resolve("unet", allow_arch=True) == "checkpoint"


@pytest.mark.parametrize("name", ["runs/x/best.pt", "missing.pt", "w.safetensors", "a.pth",
                                  "./default"])
def test_a_missing_path_is_a_file_error(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputFileError) as err:
        loading.load(name, allow_arch=True)
    assert str(err.value) == f"{name}: model file not found"


def test_a_folder_is_named_as_such(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    for name in ("run", "run/", str(tmp_path / "run")):
        with pytest.raises(InputFileError, match="a folder, not a model file"):
            loading.resolve(name)


def test_pretrained_name_goes_to_the_hub() -> None:
    assert loading.resolve("default") == "pretrained"
    model, spec = loading.load("default", input_size=(64, 96))
    assert spec.info.classes == CAMVID.classes and spec.input_size == (64, 96)
    assert not model.training


def test_architecture_only_where_allowed() -> None:
    assert loading.resolve("unet", allow_arch=True) == "architecture"
    model, spec = loading.load("unet", allow_arch=True, num_classes=3, arch_kwargs=TINY_UNET)
    assert spec.info.classes == ("class0", "class1", "class2") and spec.arch_kwargs == TINY_UNET
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    assert loading.load("enet", allow_arch=True)[1].info == CAMVID  # 11 classes by default
    with pytest.raises(ModelError) as err:
        loading.load("unet")
    text = str(err.value)
    assert text.startswith("unknown model 'unet': not a model file or a pretrained name;")
    assert "'unet' is an architecture" in text and "semseg train --arch unet" in text


def test_unknown_name_one_line_with_close_matches() -> None:
    with pytest.raises(ModelError) as err:
        loading.load("defualt")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("unknown model 'defualt': not a model file or a pretrained name; "
                           "did you mean default?")
    assert "espnetv2-voc" in text  # every pretrained name is listed
    with pytest.raises(ModelError) as err:
        loading.load("unett", allow_arch=True)
    assert "not a model file, a pretrained name or an architecture; did you mean unet" in str(
        err.value)
    with pytest.raises(ModelError, match=r"unknown model 'zzzz'.*pretrained names: "):
        loading.load("zzzz")


def test_overrides_are_checked(tiny, tmp_path: Path) -> None:
    model, spec = tiny
    pt = save_checkpoint(tmp_path / "best.pt", model, spec, epoch=1)
    assert loading.load(pt, input_size=None)[1].input_size is None
    with pytest.raises(ConfigError, match=r"only to architecture names.*\(a checkpoint model\)"):
        loading.load(pt, arch_kwargs=TINY_UNET)
    with pytest.raises(ConfigError, match=r"unknown model override.*accepted: input_size"):
        loading.load(pt, size=(3, 3))
    with pytest.raises(ModelError, match=r"model 'unet' has no parameter\(s\) no_such_arg"):
        loading.load("unet", allow_arch=True, arch_kwargs={"no_such_arg": 1})
    with pytest.raises(ConfigError, match="number of classes must be >= 1"):
        loading.load("unet", allow_arch=True, num_classes=0)


def test_semseg_load_is_lazy_and_the_same_function() -> None:
    code = "import sys, semseg; assert 'torch' not in sys.modules; print(semseg.load.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "semseg.hub.loading"
    assert semseg.load is loading.load


@pytest.mark.parametrize(
    ("command", "extra"),
    [("predict", [str(STREET), "-o", "out"]), ("eval", ["--data", "data"]),
     ("bench", []), ("export", ["-o", "m.onnx"])],
)
@pytest.mark.parametrize(("model", "message"), [
    ("nope", "unknown model 'nope': not a model file"),
    ("missing/best.pt", "missing/best.pt: model file not found"),
])
def test_cli_bad_model_exits_2_with_one_line(command, extra, model, message, capsys, tmp_path,
                                             monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([command, model, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"semseg {command}: error: {message}")
    assert list(tmp_path.iterdir()) == []  # no partial output


def _spy(monkeypatch) -> list[str]:
    """Replace the one loader by a recorder that stops the command with a ModelError."""
    calls: list[str] = []

    def fake(name_or_path, **kwargs):
        calls.append(str(name_or_path))
        raise ModelError("loader reached")

    monkeypatch.setattr(loading, "load", fake)
    return calls


@pytest.mark.parametrize(
    "argv",
    [["predict", "default", str(STREET), "-o", "out"], ["eval", "default", "--data", "data"],
     ["bench", "enet"], ["export", "enet", "-o", "m.onnx"], ["serve", "default"],
     ["background", "default", str(STREET), "-o", "out.png"]],
)
def test_every_command_calls_the_one_loader(argv, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    calls = _spy(monkeypatch)
    assert main(argv) == 2
    assert calls == [argv[1]]
    assert capsys.readouterr().err.strip().endswith("error: loader reached")


def test_python_entry_points_call_the_one_loader(monkeypatch) -> None:
    from semseg.compat.pixellib import semantic_segmentation
    from semseg.inference.segmenter import Segmenter
    from semseg.lidar.commands import load_range_model
    from semseg.training.transfer import init_from

    calls = _spy(monkeypatch)
    spec = ModelSpec(arch="unet", info=CAMVID, arch_kwargs=TINY_UNET)
    entries = [lambda: Segmenter.from_pretrained("default"),
               lambda: semseg.segment(STREET, model="default"),
               lambda: semantic_segmentation().load_pascalvoc_model(),
               lambda: load_range_model("some.pt"),
               lambda: init_from(spec.build(), spec, "default")]
    for call in entries:
        with pytest.raises(ModelError, match="loader reached"):
            call()
    assert calls == ["default", "default", "deeplabv3-mnv2-voc", "some.pt", "default"]
