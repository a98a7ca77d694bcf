"""``semseg export CKPT_OR_NAME -o model.onnx``: ONNX file with an ONNX Runtime parity check."""

from __future__ import annotations

import argparse
import sys

from semseg.threads import add_threads_argument

PARITY_TOLERANCE = 1e-4  # max |eager - ONNX Runtime| logit difference accepted by --check


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
                        f"exit 1 when logits differ by more than {PARITY_TOLERANCE:g}")
    p.add_argument("--num-classes", type=int,
                   help="classes of a randomly initialized architecture (default 11)")
    add_threads_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, then optionally check parity; prints what the ONNX graph expects as input."""
    import torch

    from semseg.cli.args import parse_size
    from semseg.errors import ConfigError
    from semseg.export.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx, onnx_parity
    from semseg.hub import loading
    from semseg.threads import set_threads

    if args.opset < 9:
        raise ConfigError(f"bad --opset {args.opset}; expected >= 9 (17 recommended)")
    set_threads(args.threads)
    source = loading.resolve(args.model, allow_arch=True)
    model, spec = loading.load(args.model, allow_arch=True, num_classes=args.num_classes)
    size = parse_size(args.size) if args.size else tuple(spec.input_size or (360, 480))
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
    if not args.check:
        return 0
    x = torch.randn(2, spec.in_channels, *size, generator=torch.Generator().manual_seed(0))
    diff = onnx_parity(model, path, x)
    ok = diff <= PARITY_TOLERANCE
    line = (f"parity: max |eager - onnxruntime| = {diff:.2e} on a random batch of 2 "
            f"({'ok' if ok else 'FAILED'}, tolerance {PARITY_TOLERANCE:g})")
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
