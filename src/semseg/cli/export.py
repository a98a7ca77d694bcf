"""``semseg export CKPT_OR_NAME -o model.onnx``: ONNX file with an ONNX Runtime parity check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from semseg.threads import add_threads_argument

if TYPE_CHECKING:
    from semseg.hub.checkpoint import ModelSpec

PARITY_TOLERANCE = 1e-4  # max |eager - ONNX Runtime| / max(1, max |eager|) accepted by --check


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg export``."""
    p = sub.add_parser("export", help="export a model to ONNX (fixed HxW, dynamic batch)")
    p.add_argument("model", help="checkpoint file, pretrained name such as 'default', or "
                                 "architecture name (random init, for testing deployment)")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--size", help="input HxW baked into the graph (default: the model's input "
                                  "size, else 360x480)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--check", action="store_true",
                   help=f"compare ONNX Runtime with eager PyTorch on a random batch of 2; "
                        f"exit 1 when logits differ by more than {PARITY_TOLERANCE:g} of their "
                        f"largest magnitude (at least 1)")
    p.add_argument("--num-classes", type=int,
                   help="classes of a randomly initialized architecture (default 11)")
    p.add_argument("--frame-to-mask", action="store_true",
                   help="write the whole predict path as one graph (semseg.export.pipeline): "
                        "input 'frame' (N, H, W, 3) uint8 RGB, resized to --size for a model "
                        "with a fixed input size (any H, W), else replicate-padded to a "
                        "multiple of 32 (H, W that pad to those of --size); outputs 'mask' "
                        "(N, H, W) int64 class ids and 'logits'")
    add_threads_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, then optionally check parity; prints what the ONNX graph expects as input."""
    import torch

    from semseg.cli.args import parse_size
    from semseg.errors import ConfigError
    from semseg.export.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx, onnx_parity
    from semseg.export.pipeline import MIN_OPSET, padded_size
    from semseg.hub import loading
    from semseg.inference.segmenter import InferenceOptions
    from semseg.threads import set_threads

    if args.opset < 9:
        raise ConfigError(f"bad --opset {args.opset}; expected >= 9 (17 recommended)")
    if args.frame_to_mask and args.opset < MIN_OPSET:
        raise ConfigError(f"--frame-to-mask needs --opset >= {MIN_OPSET}, got {args.opset}")
    set_threads(args.threads)
    source = loading.resolve(args.model, allow_arch=True)
    model, spec = loading.load(args.model, allow_arch=True, num_classes=args.num_classes)
    if args.frame_to_mask and spec.in_channels != 3:
        raise ConfigError(f"--frame-to-mask takes RGB frames; this model has {spec.in_channels} "
                          "input channels")
    size = parse_size(args.size) if args.size else tuple(spec.input_size or (360, 480))
    frame_size = size
    if args.frame_to_mask and spec.input_size is None:
        # like Segmenter: the frame is replicate-padded to the stride, so the network runs at
        # the padded size
        size = padded_size(size, InferenceOptions.stride)
    path = export_onnx(model, args.output, size, in_channels=spec.in_channels,
                       opset=args.opset)
    info = spec.info
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opset {args.opset}): "
          f"input '{INPUT_NAME}' (N, {spec.in_channels}, {size[0]}, {size[1]}) float32, "
          f"output '{OUTPUT_NAME}' (N, {spec.out_channels}, {size[0]}, {size[1]})")
    print(f"normalize inputs: (pixel / 255 - mean) / std, mean {list(info.mean)}, "
          f"std {list(info.std)}; classes: {', '.join(info.classes)}")
    if source == "architecture":
        print(f"note: {args.model!r} is an architecture name: the weights are random")
    ok = True
    if args.check:
        x = torch.randn(2, spec.in_channels, *size, generator=torch.Generator().manual_seed(0))
        diff = onnx_parity(model, path, x, relative=True)
        ok = diff <= PARITY_TOLERANCE
        line = (f"parity: max |eager - onnxruntime| / max(1, max |eager|) = {diff:.2e} on a "
                f"random batch of 2 ({'ok' if ok else 'FAILED'}, tolerance {PARITY_TOLERANCE:g})")
        print(line, file=sys.stdout if ok else sys.stderr)
    if args.frame_to_mask and ok:
        _wrap_frame_to_mask(path, spec, size, frame_size)
    return 0 if ok else 1


def _wrap_frame_to_mask(path: Path, spec: ModelSpec, size: tuple[int, int],
                        frame_size: tuple[int, int]) -> None:
    """Replace the network graph at ``path`` (input ``size``) by the frame-to-mask graph around
    it (atomic): frames resized to ``size`` for a model with a fixed input size, else padded to
    the stride (so only frames that pad to ``size``, such as ``frame_size``, fit)."""
    import onnx

    from semseg.export.onnx import INPUT_NAME, OUTPUT_NAME
    from semseg.export.pipeline import pipeline_graph
    from semseg.fileio.images import atomic_write
    from semseg.inference.segmenter import InferenceOptions

    info, stride = spec.info, InferenceOptions.stride  # Segmenter pads to this stride
    resize = spec.input_size is not None
    graph = pipeline_graph(onnx.load(str(path)), info.mean, info.std, info.num_classes,
                           size if resize else None, stride, input_name=INPUT_NAME,
                           output_name=OUTPUT_NAME, out_channels=spec.out_channels)
    atomic_write(path, lambda tmp: onnx.save(graph, str(tmp)))
    fits = (f"any H and W (resized to {size[0]}x{size[1]} inside)" if resize else
            f"H and W that pad to {size[0]}x{size[1]} at stride {stride}, e.g. "
            f"{frame_size[0]}x{frame_size[1]} (replicate-padded inside; export again for "
            "other sizes)")
    print(f"frame to mask: input 'frame' (N, H, W, 3) uint8 RGB, {fits}; outputs 'mask' "
          f"(N, H, W) int64, '{OUTPUT_NAME}' (N, {spec.out_channels}, {size[0]}, {size[1]}) "
          "float32")
