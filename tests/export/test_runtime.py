"""ONNX Runtime inside Segmenter: eager/ORT parity on a CamVid frame, the graph cache, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import semseg
from semseg.cli import main as cli_main
from semseg.compat.pixellib import semantic_segmentation
from semseg.data.camvid import INFO as CAMVID_INFO
from semseg.data.transforms import normalize_image
from semseg.errors import ConfigError
from semseg.export import runtime
from semseg.fileio.images import read_image
from semseg.hub.checkpoint import ModelSpec
from semseg.hub.pretrained import BUNDLED_DIR
from semseg.inference.segmenter import Segmenter, infer_logits

pytest.importorskip("onnxruntime")
STREET = Path(semseg.__file__).parent / "assets" / "street.jpg"  # a CamVid val frame
DEFAULT_FILE = BUNDLED_DIR / "camvid_default.safetensors"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("semseg-cache")


@pytest.fixture(autouse=True)
def _use_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSEG_CACHE", str(cache))


@pytest.fixture(scope="module")
def default_pair(cache: Path) -> tuple[Segmenter, Segmenter]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEMSEG_CACHE", str(cache))
        eager = Segmenter.from_pretrained("default")
        ort = Segmenter.from_pretrained("default", runtime="onnxruntime")
        ort.predict(read_image(STREET)[:64, :96])  # exports the graph into this cache
    return eager, ort


def test_default_model_onnxruntime_matches_eager(default_pair) -> None:
    eager, ort = default_pair
    image = read_image(STREET)  # (360, 480, 3)
    x = normalize_image(image, eager.info)[None]  # (1, 3, 360, 480)
    size = eager.spec.input_size
    want = infer_logits(eager.model, x, input_size=size)
    got = infer_logits(ort.net, x, input_size=size)
    assert got.shape == want.shape == (1, 11, 360, 480)
    assert (got - want).abs().max() < 1e-3 * max(1.0, want.abs().max().item())
    a, b = eager.predict(image), ort.predict(image)
    assert (a.mask == b.mask).mean() >= 0.999
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)


def test_graph_is_exported_once_and_keyed(default_pair, cache: Path, monkeypatch) -> None:
    _, ort = default_pair
    ort.predict(STREET)  # a 360x480 frame runs padded to 384x480: ESPNetv2 takes any size
    files = sorted(p.name for p in (cache / "onnx").iterdir())
    version = torch.__version__.replace("+", "_")
    sha = runtime.weights_sha256(ort.model)
    key = f"espnetv2-{sha}"
    # its pyramid pooling bakes the input size into the graph, so the dynamic-size check failed
    # once (remembered by the marker) and every input size gets its own graph
    assert files == [f"{key}-384x480-opset17-torch{version}.onnx",
                     f"{key}-64x96-opset17-torch{version}.onnx",
                     f"{key}-dynamic-opset17-torch{version}.fixed"]

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(runtime, "export_onnx", no_export)
    again = Segmenter.from_pretrained(DEFAULT_FILE, runtime="onnxruntime")  # same weights
    assert again.predict(STREET).mask.shape == (360, 480)
    # the key follows the weights: one changed value is a different graph
    with torch.no_grad():
        next(again.model.parameters()).view(-1)[0] += 1.0
    assert runtime.weights_sha256(again.model) != sha


def test_predict_cli_segment_and_pixellib_take_runtime(default_pair, tmp_path: Path) -> None:
    eager, _ = default_pair
    expected = eager.predict(STREET).mask
    out = tmp_path / "out"
    code = cli_main(["predict", "default", str(STREET), "-o", str(out), "--runtime",
                     "onnxruntime", "--threads", "1"])
    assert code == 0
    saved = np.asarray(Image.open(out / "street_mask.png"))
    assert (saved == expected).mean() >= 0.999
    result = semseg.segment(STREET, model="default", runtime="onnxruntime")
    assert (result.mask == expected).mean() >= 0.999
    pixellib = semantic_segmentation(runtime="onnxruntime", color_order="rgb")
    pixellib.load_pascalvoc_model(str(DEFAULT_FILE))
    assert pixellib._engine.segmenter("pascalvoc").runtime == "onnxruntime"
    segvalues, picture = pixellib.segmentAsPascalvoc(str(STREET))
    assert picture.shape == (360, 480, 3)
    ids, counts = np.unique(expected, return_counts=True)
    assert segvalues["class_ids"].tolist() == ids.tolist()
    assert segvalues["ratios"] == pytest.approx(100 * counts / expected.size, abs=0.1)


def test_eval_runtime_onnxruntime_scores_like_torch(default_pair, camvid_root: Path,
                                                     tmp_path: Path) -> None:
    import json

    scores = {}
    for rt in ("torch", "onnxruntime"):
        out = tmp_path / f"{rt}.json"
        assert cli_main(["eval", "default", "--data", str(camvid_root), "--limit", "2",
                         "--boundary-tolerance", "-1", "--runtime", rt, "--threads", "1",
                         "--json", str(out)]) == 0
        scores[rt] = json.loads(out.read_text())
    assert scores["onnxruntime"]["miou"] == pytest.approx(scores["torch"]["miou"], abs=1e-3)


class Conv(nn.Module):
    """Convolutions and size-relative resizing only: traceable with dynamic height/width."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.b(torch.relu(self.a(x))), size=x.shape[-2:], mode="bilinear")


class Frozen(Conv):
    """Python ints from the input shape: tracing freezes them, so the graph is fixed-size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        y = self.b(torch.relu(self.a(x)))
        return F.interpolate(y, size=(h, w), mode="bilinear")


@pytest.mark.parametrize(("cls", "dynamic"), [(Conv, True), (Frozen, False)])
def test_dynamic_size_only_when_it_matches_eager(cls, dynamic: bool, cache: Path) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    # input_size None: the model takes any size, so a dynamic graph is tried first
    spec = ModelSpec(arch=cls.__name__.lower(), info=CAMVID_INFO, num_outputs=4)
    onnx = runtime.OnnxModel(model, spec)
    for size in ((64, 96), (96, 64), (128, 160)):
        x = torch.randn(2, 3, *size)
        with torch.inference_mode():
            assert (onnx(x) - model(x)).abs().max() < 1e-4
    graphs = sorted(p.name for p in (cache / "onnx").glob(f"{spec.arch}-*"))
    tags = [name.split("-")[2] for name in graphs]
    if dynamic:
        assert tags == ["dynamic"]
    else:  # a marker plus one graph per size
        assert sorted(tags) == ["128x160", "64x96", "96x64", "dynamic"]
        assert next(g for g in graphs if "dynamic" in g).endswith(".fixed")


def test_runtime_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(arch="conv", info=CAMVID_INFO, num_outputs=4)
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'"):
        Segmenter(Conv(), spec, runtime="tensorrt")
    eager_only = Segmenter(Conv(), spec, runtime="onnxruntime")
    with pytest.raises(ConfigError, match="needs runtime 'torch'"):
        eager_only.predict(np.zeros((32, 32, 3), np.uint8), mc_samples=2)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ConfigError, match="pip install onnxruntime"):
        Segmenter(Conv(), spec, runtime="onnxruntime")
