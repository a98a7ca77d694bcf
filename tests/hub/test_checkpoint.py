"""Checkpoints rebuild their model, keep their metadata, and fail clearly on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from semseg.data.camvid import INFO
from semseg.errors import InputFileError, ModelError
from semseg.hub.checkpoint import ModelSpec, load_model, save_checkpoint, save_release

SPEC = ModelSpec(arch="litefpn", info=INFO, arch_kwargs={"decoder_channels": 16},
                 input_size=(64, 96))


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return SPEC.build().eval()


def test_training_checkpoint_round_trip(tmp_path: Path) -> None:
    model = _model()
    path = save_checkpoint(tmp_path / "a.pt", model, SPEC, epoch=3, metrics={"miou": 0.5})
    loaded, spec, meta = load_model(path)
    assert spec == SPEC and meta["epoch"] == 3 and meta["metrics"] == {"miou": 0.5}
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp file left


def test_release_is_fp16_and_close_to_fp32(tmp_path: Path) -> None:
    model = _model()
    path = save_release(tmp_path / "m.safetensors", model, SPEC, metrics={"miou": 0.7})
    loaded, spec, meta = load_model(path)
    assert spec.input_size == (64, 96) and meta["metrics"]["miou"] == 0.7
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.99


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04garbage"])
def test_corrupt_checkpoint_is_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=r"bad\.pt"):
        load_model(path)


def test_foreign_state_dict_and_missing_file(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(InputFileError, match="not a semseg checkpoint"):
        load_model(tmp_path / "plain.pt")
    with pytest.raises(InputFileError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_weights_of_another_architecture_are_model_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "a.pt", _model(), SPEC)
    ckpt = torch.load(path, weights_only=False)
    ckpt["spec"]["arch_kwargs"] = {"decoder_channels": 32}
    torch.save(ckpt, path)
    with pytest.raises(ModelError, match="do not match"):
        load_model(path)


def test_existing_file_survives_failed_write(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    path.write_bytes(b"old")

    class Exploding(torch.nn.Module):
        def state_dict(self, *a, **k):  # type: ignore[override]
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, Exploding(), SPEC)
    assert path.read_bytes() == b"old"
