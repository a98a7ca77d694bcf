"""ONNX export: opset, dynamic batch, atomic writes, restored modes, parity with eager."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from semseg.errors import ConfigError, InputFileError
from semseg.export.onnx import export_onnx, onnx_parity
from semseg.models import create_model


def test_enet_exports_at_opset_17_with_dynamic_batch(tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model("enet", num_classes=3).train()
    path = export_onnx(model, tmp_path / "sub" / "enet.onnx", input_size=(40, 56))
    assert model.training  # mode restored after export
    assert [p.version for p in onnx.load(str(path)).opset_import if p.domain == ""] == [17]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["enet.onnx", "sub"]  # no temp left
    diff = onnx_parity(model, path, torch.randn(2, 3, 40, 56))  # batch 2 through a batch-1 export
    assert diff < 1e-4
    assert model.training


def test_relative_parity_divides_by_the_largest_logit(tmp_path) -> None:
    torch.manual_seed(0)
    model = nn.Conv2d(3, 4, 3, padding=1).eval()
    with torch.no_grad():
        model.weight.mul_(1e4)  # logits in the thousands: float32 rounding grows with them
    path = export_onnx(model, tmp_path / "m.onnx", (16, 16))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        scale = model(x).abs().max().item()
    assert scale > 1000
    absolute = onnx_parity(model, path, x)
    assert onnx_parity(model, path, x, relative=True) == pytest.approx(absolute / scale)
    small = nn.Conv2d(3, 4, 1).eval()  # |logits| < 1: divided by 1, i.e. absolute
    with torch.no_grad():
        small.weight.mul_(0.01)
        small.bias.zero_()
    path = export_onnx(small, tmp_path / "s.onnx", (16, 16))
    assert onnx_parity(small, path, x * 0.1, relative=True) == onnx_parity(small, path, x * 0.1)


def test_fixed_batch_export_has_static_shape(tmp_path) -> None:
    model = nn.Conv2d(1, 2, 3, padding=1)
    path = export_onnx(model, tmp_path / "m.onnx", (8, 9), in_channels=1, dynamic_batch=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 1, 8, 9]
    assert session.get_outputs()[0].name == "logits"


def test_failed_export_keeps_previous_file_and_leaves_no_temp(tmp_path) -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="boom"):
        export_onnx(Broken(), target, (4, 4))
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_parity_reports_shape_mismatch_and_missing_file(tmp_path) -> None:
    model = nn.Conv2d(3, 2, 1)
    path = export_onnx(model, tmp_path / "m.onnx", (4, 4))
    with pytest.raises(ConfigError, match="export at this input size"):
        onnx_parity(model, path, torch.zeros(1, 3, 5, 5))
    with pytest.raises(InputFileError, match="does not exist"):
        onnx_parity(model, tmp_path / "missing.onnx", torch.zeros(1, 3, 4, 4))


def test_rejects_non_positive_input_size(tmp_path) -> None:
    with pytest.raises(ConfigError, match="must be positive"):
        export_onnx(nn.Conv2d(3, 2, 1), tmp_path / "m.onnx", (0, 4))
