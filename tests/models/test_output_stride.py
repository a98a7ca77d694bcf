"""``output_stride`` 8 / 16 / 32 of every model with a dilated trunk: feature size, logits size,
unchanged weights (same state-dict keys and shapes), pretrained weights still load, bad values."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from semseg.errors import ModelError
from semseg.models import create_model, model_entry
from semseg.models.backbones.mobilenet_edgetpu import TABLE
from semseg.models.mobile_blocks import dilate
from semseg.models.mosaic import TABLE as MOSAIC_TABLE
from semseg.models.registry import model_parameters

# model -> (default output stride, the head module fed by the trunk's last feature map,
#           input padded to a multiple of this x output stride, the trunk input's downscale
#           relative to the image: ICNet's low branch sees 1/4)
DILATED = {
    "pspnet": (8, "ppm", 1, 1),
    "pspnet_resnet18": (8, "ppm", 1, 1),
    "icnet": (8, "low_reduce", 4, 4),
    "deeplabv3plus": (16, "aspp", 1, 1),
    "deeplabv3plus_mobilenetv2": (16, "aspp", 1, 1),
    "deeplabv3_mobilenetv2": (16, "aspp", 1, 1),
    "deeplabv3_edgetpu": (16, "aspp", 1, 1),
    "mosaic": (16, "context_proj", 8, 1),  # pools the features by up to 8
}
SIZE = (70, 100)  # no power of two divides it: padding and rounding are exercised too
MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "tflite"


@pytest.mark.parametrize("name", sorted(DILATED))
def test_output_stride_is_a_registered_argument_with_the_model_default(name: str) -> None:
    default = DILATED[name][0]
    assert "output_stride" in model_parameters(name)  # so --arch-kwargs accepts it
    builder = model_entry(name).builder
    assert inspect.signature(builder).parameters["output_stride"].default == default


# "pspnet" is "pspnet_resnet18" with ResNet-50 (whose dilation test_backbones covers): 7 s more.
@pytest.mark.parametrize("name", sorted(set(DILATED) - {"pspnet"}))
def test_trunk_stride_logits_size_and_weights_per_output_stride(name: str) -> None:
    torch.manual_seed(0)
    _, head, pad, scale = DILATED[name]
    reference = create_model(name, num_classes=3)
    weights = reference.state_dict()
    shapes = {k: v.shape for k, v in weights.items()}
    for output_stride in (8, 16, 32):
        model = create_model(name, num_classes=3, output_stride=output_stride).eval()
        # Same keys and shapes: a checkpoint trained at one stride loads at any other.
        assert {k: v.shape for k, v in model.state_dict().items()} == shapes
        model.load_state_dict(weights)
        seen: list[tuple[int, int]] = []
        hook = getattr(model, head).register_forward_pre_hook(
            lambda _m, args, seen=seen: seen.append(tuple(args[0].shape[-2:])))
        with torch.inference_mode():
            logits = model(torch.randn(1, 3, *SIZE))
        hook.remove()
        multiple = pad * output_stride
        padded = [math.ceil(n / multiple) * multiple for n in SIZE]
        assert seen == [tuple(n // (output_stride * scale) for n in padded)], output_stride
        assert logits.shape == (1, 3, *SIZE)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("value", [4, 64, 0, "16", True])
def test_bad_output_stride_names_the_allowed_values(value) -> None:
    for name in DILATED:
        with pytest.raises(ModelError, match=r"output_stride must be one of 8, 16, 32, got"):
            create_model(name, num_classes=3, output_stride=value)


def test_models_without_a_dilated_trunk_reject_output_stride() -> None:
    with pytest.raises(ModelError, match="has no parameter"):
        create_model("linknet", num_classes=3, output_stride=16)


def test_edgetpu_table_at_stride_16_is_the_published_graph() -> None:
    rows = dilate(TABLE, 16)
    assert [r.stride for r in rows] == [1, 2, 1, 1, 1, 2, 1, 1, 1, 2] + [1] * 12
    assert [r.dilation for r in rows] == [1] * 18 + [2] * 4  # 120-channel block keeps rate 1
    rows8 = dilate(TABLE, 8)
    assert [r.stride for r in rows8] == [1, 2, 1, 1, 1, 2] + [1] * 16
    assert [r.dilation for r in rows8] == [1] * 10 + [2] * 8 + [4] * 4
    assert dilate(TABLE, 32) == TABLE


def test_mosaic_table_at_stride_16_is_the_published_graph() -> None:
    rows = dilate(MOSAIC_TABLE, 16, traded_rate="new")  # the graph dilates the traded block too
    assert [r.stride for r in rows] == [2, 1, 2, 1, 1, 1, 2] + [1] * 9
    assert [r.dilation for r in rows] == [1] * 13 + [2] * 3


@pytest.mark.skipif(not MIRROR.is_dir(), reason="TFLite mirror absent")
def test_pretrained_voc_weights_segment_the_same_at_every_output_stride() -> None:
    """The published OS-16 DeepLabv3 weights at OS 8 and 32 label a real photo nearly alike."""
    skdata = pytest.importorskip("skimage.data")
    from PIL import Image

    from semseg.fileio.tflite import read_tflite
    from semseg.hub.pretrained import pretrained_entry
    from semseg.models.tflite_import import load_tflite_weights

    torch.set_num_threads(1)
    entry = pretrained_entry("deeplabv3-mnv2-voc")
    graph = read_tflite(MIRROR / entry.file_name)
    image = np.asarray(Image.fromarray(skdata.astronaut()).resize((257, 257), Image.BILINEAR))
    x = (torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() - 128.0) / 128.0
    labels = {}
    for output_stride in (8, 16, 32):
        model = create_model(entry.arch, 21, output_stride=output_stride)
        load_tflite_weights(model, graph)  # every conv finds its weights at any stride
        with torch.inference_mode():
            labels[output_stride] = model(x)[0].argmax(0)  # (257, 257)
    person = labels[16] == 15
    assert person.float().mean() > 0.2  # the astronaut is found at the published stride
    for output_stride in (8, 32):
        other = labels[output_stride] == 15
        iou = (person & other).sum() / (person | other).sum()
        assert (labels[output_stride] == labels[16]).float().mean() > 0.9, output_stride
        assert iou > 0.85, (output_stride, float(iou))
