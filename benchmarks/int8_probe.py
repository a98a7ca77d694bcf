"""Does ONNX Runtime INT8 static quantization keep the default model's CamVid val mIoU?

Run from the repository root (CamVid in ../shared/data/camvid):

    PYTHONPATH=src python benchmarks/int8_probe.py --data ../shared/data/camvid --calib 40

Exports the model's ONNX graph (the one ``Segmenter(runtime="onnxruntime")`` uses), quantizes it
with ``onnxruntime.quantization.quantize_static`` (QDQ, per-channel INT8 weights, UINT8
activations) calibrated on the first ``--calib`` CamVid *train* frames, then scores the float
and the INT8 graph on every val frame with the same pre- and post-processing as ``Segmenter``
(normalize, resize to the input size, network, logits resized back, argmax) and times the
network alone on one thread, interleaved. Prints one Markdown table. The test split is never
read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from semseg.data import get_format
from semseg.data.transforms import normalize, to_chw
from semseg.export.onnx import INPUT_NAME, OUTPUT_NAME, onnx_session
from semseg.inference.segmenter import Segmenter, fit_input
from semseg.metrics.confusion import ConfusionMatrix, mean_iou


def network_input(image: np.ndarray, seg: Segmenter) -> np.ndarray:
    """(1, 3, h, w) float32 network input, made as ``Segmenter`` makes it
    (semseg.inference.segmenter)."""
    x = normalize(to_chw(image)[None], seg.info)  # (1, 3, H, W)
    return fit_input(x, seg.spec.input_size, seg.stride)[0].numpy()


class Calibration:
    """``CalibrationDataReader`` over CamVid training frames (duck-typed: get_next/rewind)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames, self.i = frames, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.frames):
            return None
        self.i += 1
        return {INPUT_NAME: self.frames[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0


def score(session, seg: Segmenter, dataset) -> float:
    """Val mIoU (%) of an ONNX Runtime session through Segmenter's processing."""
    c = seg.info.num_classes
    cm = ConfusionMatrix(c, seg.info.ignore_index)
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: network_input(image, seg)})
        _, back = fit_input(torch.empty(1, 3, *mask.shape), seg.spec.input_size, seg.stride)
        pred = back(torch.from_numpy(logits)[:, :c]).max(1).indices  # (1, H, W)
        cm.update(pred, torch.from_numpy(mask.astype(np.int64))[None])
    return 100 * mean_iou(cm.matrix.cpu().numpy())


def main(argv: list[str] | None = None) -> int:
    """Quantize, score both graphs, time both; print a table."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--data", default="../shared/data/camvid")
    p.add_argument("--calib", type=int, default=40, help="CamVid train frames for calibration")
    p.add_argument("--iters", type=int, default=30, help="timed runs per graph")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    seg = Segmenter.from_pretrained(args.model, runtime="onnxruntime")
    # the network's input for a 360x480 CamVid frame: the model's fixed size, else padded
    size = tuple(fit_input(torch.empty(1, 3, 360, 480), seg.spec.input_size,
                           seg.stride)[0].shape[-2:])
    seg.net._session(size)  # exports (or finds) the cached float graph
    float_path = seg.net.graph_path(size)
    splits = {s.split: s for s in get_format("camvid").splits(args.data)}
    train, val = splits["train"].dataset(None), splits["val"].dataset(None)
    frames = [network_input(train.load(i)[0], seg) for i in range(min(args.calib, len(train)))]
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = Path(tmp) / "int8.onnx"
        quantize_static(str(float_path), str(int8_path), Calibration(frames),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sessions = {"float32": onnx_session(float_path, 1), "int8": onnx_session(int8_path, 1)}
        mious = {k: score(s, seg, val) for k, s in sessions.items()}
        feed = {INPUT_NAME: frames[0]}
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for _ in range(args.iters):  # interleaved, so load changes hit both alike
            for k, s in sessions.items():
                start = time.perf_counter()
                s.run([OUTPUT_NAME], feed)
                times[k].append(time.perf_counter() - start)
    print("| graph | CamVid val mIoU | network p50 ms (1 thread) |\n|---|---:|---:|")
    for k in sessions:
        print(f"| {k} | {mious[k]:.2f} | {1000 * np.median(times[k]):.1f} |")
    print(f"\n{args.model} at {size[0]}x{size[1]}, {len(val)} val frames, calibration on "
          f"{len(frames)} train frames; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
