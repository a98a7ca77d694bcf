"""``semseg.fileio.tflite`` on a published 8-bit model and on hand-built tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semseg.errors import ModelError
from semseg.fileio.tflite import TFLiteTensor, read_tflite

VOC_TFLITE = (Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "tflite"
              / "deeplabv3_mnv2_pascal_quant.tflite")


def test_per_channel_dequantization_by_hand() -> None:
    q = np.array([[0, 10], [255, 128]], np.uint8)  # 2 output channels along axis 0
    t = TFLiteTensor("w", (2, 2), np.dtype(np.uint8), np.array([0.5, 2.0], np.float32),
                     np.array([10, 128]), 0, q)
    assert np.array_equal(t.dequantize(), [[-5.0, 0.0], [254.0, 0.0]])
    assert t.quant_range is None  # per-channel: no single activation range
    act = TFLiteTensor("a", (1,), np.dtype(np.uint8), np.array([0.1], np.float32),
                       np.array([5]), 0, None)
    assert act.quant_range == pytest.approx((-0.5, 25.0))
    with pytest.raises(ModelError, match="'a' has no constant data"):
        act.dequantize()


def test_reads_the_voc_graph() -> None:
    if not VOC_TFLITE.is_file():
        pytest.skip(f"{VOC_TFLITE} absent")
    graph = read_tflite(VOC_TFLITE)
    assert graph.tensors[graph.inputs[0]].shape == (1, 513, 513, 3)
    assert [op.kind for op in graph.ops[:3]] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    assert graph.ops[-1].kind == "ARG_MAX"
    params = graph.conv_params()
    assert len(params) == 55  # 52 encoder convs + image pooling, aspp0, projection... + logits
    w, b = params["MobilenetV2/Conv"]
    assert w.shape == (32, 3, 3, 3) and b.shape == (32,) and w.dtype == np.float32
    stem = graph.tensors[graph.ops[0].inputs[1]]  # (O, kH, kW, I) uint8, per-tensor
    q, s, z = stem.data[0, 0, 0, 0], stem.scale[0], stem.zero_point[0]
    assert w[0, 0, 0, 0] == pytest.approx(s * (int(q) - int(z)))  # OHWI -> OIHW, dequantized
    dw = params["MobilenetV2/expanded_conv/depthwise"][0]
    assert dw.shape == (32, 1, 3, 3)  # depthwise (1, kH, kW, C) -> (C, 1, kH, kW)


def test_not_a_tflite_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"PK\x03\x04 not a flatbuffer")
    with pytest.raises(ModelError, match=r"model.tflite: not a TensorFlow Lite flatbuffer"):
        read_tflite(bad)
