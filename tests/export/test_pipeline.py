"""The whole predict path as one ONNX graph: exact against torch on a hand-built network, and
the same masks as the step-by-step path in ``Segmenter`` on CamVid frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.camvid import INFO as CAMVID_INFO
from semseg.export.onnx import export_onnx, onnx_session
from semseg.export.pipeline import pipeline_graph
from semseg.fileio.images import read_image
from semseg.hub.checkpoint import ModelSpec
from semseg.inference.segmenter import Segmenter

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
MEAN, STD = (0.3, 0.5, 0.7), (0.2, 0.25, 0.3)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSEG_CACHE", str(tmp_path / "cache"))


def _conv(out_channels: int = 4, seed: int = 0) -> nn.Conv2d:
    """A 1x1 convolution as the 'network': logits are an affine map of the normalized pixel."""
    torch.manual_seed(seed)
    return nn.Conv2d(3, out_channels, 1).eval()


def _frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _normalized(frames: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255.0
    return (x - mean) / std


def _run(model: nn.Module, tmp_path: Path, frames: np.ndarray, num_classes: int,
         input_size: tuple[int, int] | None, stride: int = 32,
         out_channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    net_size = input_size or (64, 64)
    path = export_onnx(model, tmp_path / "net.onnx", net_size, dynamic_size=input_size is None)
    graph = pipeline_graph(onnx.load(str(path)), MEAN, STD, num_classes, input_size, stride,
                           out_channels=out_channels)
    session = onnx_session(graph.SerializeToString(), threads=1)
    masks, logits = session.run(["mask", "logits"], {"frame": frames})
    return masks, logits


def test_resize_pipeline_matches_torch_step_by_step(tmp_path: Path) -> None:
    model = _conv(out_channels=4)  # 3 classes + one extra output that is never predicted
    frames = _frames(2, 37, 53)
    masks, logits = _run(model, tmp_path, frames, num_classes=3, input_size=(16, 24),
                         out_channels=4)
    with torch.no_grad():
        x = F.interpolate(_normalized(frames), (16, 24), mode="bilinear", align_corners=False)
        want_logits = model(x)  # (2, 4, 16, 24)
        full = F.interpolate(want_logits[:, :3], (37, 53), mode="bilinear", align_corners=False)
    assert logits.shape == (2, 4, 16, 24) and masks.shape == (2, 37, 53)
    assert masks.dtype == np.int64
    np.testing.assert_allclose(logits, want_logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(masks, full.max(1).indices.numpy())
    assert masks.max() <= 2  # the extra output channel is sliced off before the argmax


def test_pad_pipeline_pads_by_replication_and_crops_back(tmp_path: Path) -> None:
    model = _conv(out_channels=3, seed=1)
    frames = _frames(1, 37, 53, seed=1)
    masks, logits = _run(model, tmp_path, frames, num_classes=3, input_size=None, stride=8,
                         out_channels=3)  # no slice
    with torch.no_grad():
        x = F.pad(_normalized(frames), (0, 3, 0, 3), mode="replicate")  # to 40x56
        want_logits = model(x)
    assert logits.shape == (1, 3, 40, 56)
    np.testing.assert_allclose(logits, want_logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(masks, want_logits[:, :, :37, :53].max(1).indices.numpy())
    # a frame already a multiple of the stride is not padded
    masks, logits = _run(model, tmp_path, _frames(1, 40, 56), num_classes=3, input_size=None,
                         stride=8)
    assert logits.shape == (1, 3, 40, 56) and masks.shape == (1, 40, 56)


def test_tied_classes_give_the_first_one(tmp_path: Path) -> None:
    model = _conv(out_channels=3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 2.0, 2.0]))  # classes 1 and 2 tie everywhere
    masks, _ = _run(model, tmp_path, _frames(1, 20, 30), num_classes=3, input_size=(8, 8))
    assert (masks == 1).all()


def test_rejects_normalization_of_other_channel_count(tmp_path: Path) -> None:
    path = export_onnx(_conv(), tmp_path / "net.onnx", (8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        pipeline_graph(onnx.load(str(path)), (0.5,), (0.5,), 4, (8, 8))


def test_rejects_network_graphs_below_opset_15(tmp_path: Path) -> None:
    path = export_onnx(_conv(), tmp_path / "net.onnx", (8, 8), opset=13)
    with pytest.raises(ValueError, match="opset >= 15"):
        pipeline_graph(onnx.load(str(path)), MEAN, STD, 4, (8, 8))


def _segmenters(model: nn.Module, spec: ModelSpec) -> tuple[Segmenter, Segmenter]:
    fused = Segmenter(model, spec, runtime="onnxruntime")
    steps = Segmenter(model, spec, runtime="onnxruntime", one_graph=False)  # torch/OpenCV + ORT
    return fused, steps


def _pipelines(seg: Segmenter) -> list:
    return [k for k in seg.net._sessions if isinstance(k, tuple) and k[0] == "pipeline"]


def test_segmenter_fused_path_gives_the_step_by_step_masks(camvid_root: Path) -> None:
    """A bundled trained model (fixed input size: resize) and a zoo model that pads: on real
    CamVid frames, cropped to odd sizes too, the fused graph's masks are the step-by-step ones
    (bilinear resizes by OpenCV there and by ONNX Runtime here agree to 1e-4 of the range)."""
    from semseg.hub import loading
    from semseg.models import create_model

    frames = [read_image(p) for p in sorted((camvid_root / "val").glob("*.png"))[:2]]
    litefpn, spec = loading.load("camvid-litefpn")
    torch.manual_seed(0)
    linknet = create_model("linknet", num_classes=11).eval()
    pad_spec = ModelSpec(arch="linknet", info=CAMVID_INFO)
    for model, model_spec in ((litefpn, spec), (linknet, pad_spec)):
        fused, steps = _segmenters(model, model_spec)
        for frame in frames:
            for image in (frame, frame[:301, :413]):
                a, b = fused.predict(image), steps.predict(image)
                assert a.mask.shape == image.shape[:2]
                assert (a.mask != b.mask).mean() <= 1e-4
                np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
        assert _pipelines(fused) and not _pipelines(steps)
        batch = fused.predict_batch(frames)
        for frame, result in zip(frames, batch, strict=True):
            np.testing.assert_array_equal(result.mask, fused.predict(frame).mask)


def test_tta_and_windows_take_the_step_by_step_path(camvid_root: Path) -> None:
    from semseg.hub import loading

    model, spec = loading.load("camvid-litefpn")
    seg = Segmenter(model, spec, runtime="onnxruntime")
    frame = read_image(sorted((camvid_root / "val").glob("*.png"))[0])
    assert seg.predict(frame, tta=True).mask.shape == (360, 480)
    assert seg.predict(frame, window=(256, 256)).mask.shape == (360, 480)
    assert not _pipelines(seg)
    seg.predict(frame)
    assert len(_pipelines(seg)) == 1
