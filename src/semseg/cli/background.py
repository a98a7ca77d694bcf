"""``semseg background``: blur, recolour, replace or gray out the background behind people."""

from __future__ import annotations

import argparse
from pathlib import Path

from semseg.cli.args import add_device_argument, add_runtime_argument, parse_device
from semseg.errors import ConfigError
from semseg.fileio.filetypes import IMAGE_EXTENSIONS as IMAGE_SUFFIXES
from semseg.threads import add_threads_argument

MODES = ("blur", "color", "image", "gray")  # = inference.background.MODES, kept torch-free


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg background``."""
    p = sub.add_parser(
        "background",
        help="keep chosen classes (default: person) and blur/recolour/replace the rest",
        description="MODEL is a pretrained name (e.g. espnetv2-voc) or a checkpoint path. "
        "With one INPUT, -o may be an image file; otherwise it is a folder receiving "
        "<stem>_<mode>.png.",
    )
    p.add_argument("model", metavar="MODEL", help="pretrained name or checkpoint path")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output image or folder")
    p.add_argument("--mode", choices=MODES, default="blur", help="what replaces the background")
    p.add_argument("--color", default="0,0,0", metavar="R,G,B", help="colour for --mode color")
    p.add_argument("--image", metavar="FILE", help="background picture for --mode image")
    p.add_argument("--classes", default="person", metavar="NAME,...",
                   help="classes kept as foreground (default: person)")
    p.add_argument("--blur", type=int, default=41, metavar="K", help="odd blur kernel (41)")
    p.add_argument("--feather", type=float, default=0.0, metavar="PX",
                   help="soften the cut with a Gaussian of this sigma (pixels)")
    add_device_argument(p)
    add_threads_argument(p)
    add_runtime_argument(p)
    p.set_defaults(func=run)


def parse_color(text: str) -> tuple[int, int, int]:
    """'0,128,255' -> (0, 128, 255); anything else raises ``ConfigError``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ConfigError(f"--color {text!r}: expected R,G,B with values 0..255, e.g. 0,128,255")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _destinations(inputs: list[Path], output: Path, mode: str) -> list[Path]:
    if len(inputs) == 1 and output.suffix.lower() in IMAGE_SUFFIXES:
        return [output]
    if output.exists() and not output.is_dir():
        raise ConfigError(f"-o {output}: exists and is not a folder")
    stems = [p.stem for p in inputs]
    if len(set(stems)) != len(stems):
        raise ConfigError("inputs share a name stem; their outputs would overwrite each other")
    return [output / f"{p.stem}_{mode}.png" for p in inputs]


def run(args: argparse.Namespace) -> int:
    """Edit every input's background; print one line per output."""
    from semseg.fileio.images import read_image, save_image
    from semseg.inference.background import change_background
    from semseg.inference.segmenter import Segmenter
    from semseg.threads import set_threads
    from semseg.visualize.overlay import class_ids

    color, device = parse_color(args.color), parse_device(args.device)
    if args.mode == "image" and not args.image:
        raise ConfigError("--mode image needs --image FILE")
    if args.blur < 3 or args.blur % 2 == 0:
        raise ConfigError(f"--blur {args.blur}: expected an odd integer >= 3")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    inputs = [Path(p) for p in args.inputs]
    dests = _destinations(inputs, Path(args.output), args.mode)
    images = [read_image(p) for p in inputs]  # every input decodes before anything is written
    background = read_image(args.image) if args.mode == "image" else None
    set_threads(args.threads)
    segmenter = Segmenter.from_pretrained(args.model, device=device, runtime=args.runtime)
    class_ids(classes, segmenter.info.classes)  # unknown names fail before any write
    for image, dest in zip(images, dests, strict=True):
        result = segmenter.predict(image)
        out = change_background(image, result, mode=args.mode, classes=classes, color=color,
                                background_image=background, blur_kernel=args.blur,
                                feather=args.feather)
        save_image(dest, out)
        kept = float(result.class_masks(classes)[classes[0]].mean()) if len(classes) == 1 else None
        share = f" ({classes[0]}: {100 * kept:.1f}% of pixels)" if kept is not None else ""
        print(f"{dest}{share}")
    return 0
