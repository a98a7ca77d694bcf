"""Converted TFLite models against the reference interpreter (``ai-edge-litert``) on real photos.

The interpreter runs the 8-bit graph; semseg runs the dequantized weights in float32. Their
logits differ by the int8 rounding of every activation (about one quantization step per layer,
accumulating), so the argmax maps are compared where the int8 model is decided: pixels whose
top-2 margin in the reference logits is at least ``MARGIN`` logit units. The plain agreement on
all pixels is checked too, with a floor per model (docs/pretrained.md lists the measured values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semseg.errors import ModelError
from semseg.fileio.tflite import read_tflite
from semseg.hub.pretrained import pretrained_entry
from semseg.models import create_model
from semseg.models.tflite_import import load_tflite_weights, tflite_scopes

skdata = pytest.importorskip("skimage.data")
Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter
MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "tflite"
CAMVID_FRAME = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "camvid" / "val"
MARGIN = 1.0  # logit units: 5 quantization steps of the VOC logits (scale 0.2)

# (pretrained name, photo, min agreement on all pixels, min agreement on decided pixels)
CASES = [
    ("deeplabv3-mnv2-voc", "astronaut", 0.99, 0.999),
    ("deeplabv3-mnv2-voc", "chelsea", 0.99, 0.999),
    ("deeplabv3-mnv2-voc", "motorcycle", 0.99, 0.999),
    ("deeplabv3-mnv2-voc", "coffee", 0.80, 0.99),  # table vs background: a near tie
    ("deeplabv3-mnv2-0.5-voc", "chelsea", 0.99, 0.999),
    ("mosaic-ade20k", "camvid", 0.95, 0.99),
    ("deeplab-edgetpu-cityscapes", "camvid", 0.90, 0.99),
]
SLOW = {("deeplabv3-mnv2-voc", p) for p in ("chelsea", "coffee", "motorcycle")} | {
    ("deeplabv3-mnv2-0.5-voc", "chelsea")}


def photo(name: str, size: int) -> np.ndarray:
    """A real RGB photo resized (bilinear) to the model's square input."""
    if name == "camvid":
        image = np.asarray(Image.open(CAMVID_FRAME / "0016E5_08099.png").convert("RGB"))
    elif name == "motorcycle":
        image = skdata.stereo_motorcycle()[0]
    else:
        image = getattr(skdata, name)()
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def reference(path: Path, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(argmax map, dequantized logits (H, W, K), logits' quantization step) of the 8-bit graph."""
    graph = read_tflite(path)
    logits_id = next(op for op in graph.ops if op.kind == "ARG_MAX").inputs[0]
    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    it.set_tensor(graph.inputs[0], image[None])
    it.invoke()
    t = graph.tensors[logits_id]
    logits = t.scale[0] * (it.get_tensor(logits_id)[0].astype(np.float32) - t.zero_point[0])
    return it.get_tensor(graph.outputs[0])[0], logits, float(t.scale[0])


def converted(name: str, image: np.ndarray) -> np.ndarray:
    """semseg's float logits (H, W, K) for the uint8 input the interpreter sees."""
    entry = pretrained_entry(name)
    model = load_tflite_weights(entry.spec().build(), read_tflite(MIRROR / entry.file_name))
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float()
    x = (x - 128.0) / 128.0  # the graph's input quantization: scale 1/128, zero point 128
    with torch.inference_mode():
        return model(x)[0].permute(1, 2, 0).numpy()


@pytest.fixture(autouse=True)
def mirror() -> None:
    if not MIRROR.is_dir():
        pytest.skip(f"TFLite mirror {MIRROR} absent")


@pytest.mark.filterwarnings("ignore:Warning. Enabling `experimental_preserve_all_tensors`")
@pytest.mark.parametrize(("name", "photo_name", "floor", "decided_floor"), [
    pytest.param(*c, marks=pytest.mark.slow) if c[:2] in SLOW else c for c in CASES])
def test_argmax_and_logits_match_the_interpreter(name: str, photo_name: str, floor: float,
                                                 decided_floor: float) -> None:
    torch.set_num_threads(1)
    entry = pretrained_entry(name)
    image = photo(photo_name, entry.input_size[0])
    ref_labels, ref_logits, step = reference(MIRROR / entry.file_name, image)
    ours = converted(name, image)
    labels = ours.argmax(-1)
    top2 = np.sort(ref_logits, axis=-1)[..., -2:]
    decided = top2[..., 1] - top2[..., 0] >= MARGIN
    assert (labels == ref_labels).mean() >= floor
    assert decided.mean() > 0.3 and (labels == ref_labels)[decided].mean() >= decided_floor
    # Logits: on average within a few quantization steps of the int8 logits, never far off.
    err = np.abs(ours - ref_logits)
    assert err.mean() < 2.5 * step, (err.mean(), step)
    assert np.percentile(err, 99.9) < 0.25 * (ref_logits.max() - ref_logits.min())


def test_every_conv_of_each_graph_lands_in_the_module() -> None:
    for name in ("deeplabv3-mnv2-voc", "mosaic-ade20k", "deeplab-edgetpu-cityscapes"):
        entry = pretrained_entry(name)
        graph = read_tflite(MIRROR / entry.file_name)
        model = entry.spec().build()
        scopes = [s for s, _ in tflite_scopes(model)]
        assert sorted(scopes) == sorted(graph.conv_params())  # one-to-one, nothing left over
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) == len(scopes)


def test_wrong_graph_for_the_architecture_names_the_layer() -> None:
    graph = read_tflite(MIRROR / pretrained_entry("deeplabv3-mnv2-0.5-voc").file_name)
    with pytest.raises(ModelError, match="does not fit the module"):
        load_tflite_weights(create_model("deeplabv3_mobilenetv2", 21), graph)
    with pytest.raises(ModelError, match="does not match Mosaic"):
        load_tflite_weights(create_model("mosaic", 32), graph)
