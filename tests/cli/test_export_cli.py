"""``semseg export``: an ONNX file whose ONNX Runtime output matches eager PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from semseg.cli import main
from semseg.data.camvid import INFO as CAMVID
from semseg.hub.checkpoint import ModelSpec, load_model, save_checkpoint

STREET = Path(__file__).resolve().parents[2] / "src" / "semseg" / "assets" / "street.jpg"


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A trained-looking U-Net (width 8) checkpoint whose spec fixes the input at 32x48."""
    torch.manual_seed(0)
    spec = ModelSpec(arch="unet", info=CAMVID, arch_kwargs={"base_width": 8},
                     input_size=(32, 48))
    return save_checkpoint(tmp_path / "run" / "best.pt", spec.build(), spec, epoch=1)


def test_export_matches_eager_within_tolerance(tiny_checkpoint: Path, tmp_path: Path,
                                               capsys) -> None:
    onnx_path = tmp_path / "out" / "model.onnx"
    code = main(["export", str(tiny_checkpoint), "-o", str(onnx_path), "--size", "64x96",
                 "--check"])
    out = capsys.readouterr().out
    assert code == 0 and "parity: max |eager - onnxruntime|" in out and "(ok" in out
    assert "mean [0.485, 0.456, 0.406]" in out and "sky, building" in out

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "image" and inp.shape[1:] == [3, 64, 96]
    x = torch.randn(3, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    (got,) = session.run(None, {"image": x.numpy()})
    model, _, _ = load_model(tiny_checkpoint)
    with torch.inference_mode():
        expected = model(x).numpy()  # (3, 11, 64, 96)
    assert got.shape == expected.shape == (3, 11, 64, 96)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_frame_to_mask_graph_gives_the_segmenter_masks(tiny_checkpoint: Path, tmp_path: Path,
                                                       capsys) -> None:
    """One ONNX file from a uint8 frame of any size to the mask: the masks of the same model's
    step-by-step inference at that input size, on a real CamVid frame at two sizes."""
    from semseg.data.transforms import to_chw
    from semseg.fileio.images import read_image
    from semseg.inference.segmenter import InferenceOptions, class_map, predict_logits

    onnx_path = tmp_path / "model.onnx"
    code = main(["export", str(tiny_checkpoint), "-o", str(onnx_path), "--frame-to-mask",
                 "--check"])
    assert code == 0 and "input 'frame' (N, H, W, 3) uint8" in capsys.readouterr().out
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["frame"]
    model, spec, _ = load_model(tiny_checkpoint)
    street = read_image(STREET)
    for frame in (street, street[:301, :413]):
        mask, logits = session.run(["mask", "logits"], {"frame": frame[None]})
        x = to_chw(frame)[None]
        want = predict_logits(model, x, spec.info, InferenceOptions(input_size=(32, 48)),
                              resize_back=False)
        assert mask.shape == (1, *frame.shape[:2]) and logits.shape == (1, 11, 32, 48)
        np.testing.assert_allclose(logits, want.numpy(), atol=1e-4)
        assert (mask == class_map(want, frame.shape[:2]).numpy()).mean() >= 0.9999


def test_frame_to_mask_pads_a_model_without_input_size_like_segmenter(tmp_path: Path,
                                                                       capsys) -> None:
    from semseg.fileio.images import read_image
    from semseg.inference.segmenter import Segmenter

    torch.manual_seed(0)
    spec = ModelSpec(arch="unet", info=CAMVID, arch_kwargs={"base_width": 8})  # any input size
    checkpoint = save_checkpoint(tmp_path / "best.pt", spec.build(), spec, epoch=1)
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(checkpoint), "-o", str(onnx_path), "--size", "40x56",
                 "--frame-to-mask"]) == 0
    assert "pad to 64x64 at stride 32, e.g. 40x56" in capsys.readouterr().out
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    frame = read_image(STREET)[100:140, 200:256]  # (40, 56, 3), padded to 64x64 inside
    mask, logits = session.run(["mask", "logits"], {"frame": frame[None]})
    assert logits.shape == (1, 11, 64, 64)
    model, spec, _ = load_model(checkpoint)
    expected = Segmenter(model, spec).predict(frame).mask  # eager torch, padded to 32
    assert (mask[0] == expected).mean() >= 0.9999


def test_size_defaults_to_the_models_input_size(tiny_checkpoint: Path, tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(tiny_checkpoint), "-o", str(onnx_path)]) == 0
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[2:] == [32, 48]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "nope", "-o", "m.onnx"], "unknown model 'nope'"),
        (["export", "enet", "-o", "m.onnx", "--size", "64*96"], "bad --size '64*96'"),
        (["export", "enet", "-o", "m.onnx", "--opset", "5"], "bad --opset 5"),
        (["export", "enet", "-o", "m.onnx", "--opset", "13", "--frame-to-mask"],
         "--frame-to-mask needs --opset >= 15, got 13"),
        (["export", "missing/best.pt", "-o", "m.onnx"], "model file not found"),
    ],
)
def test_errors_exit_2_with_one_line(capsys, tmp_path: Path, monkeypatch, args: list[str],
                                     message: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("semseg export: error:") and message in err
    assert not (tmp_path / "m.onnx").exists()
