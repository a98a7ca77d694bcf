"""``semseg predict``: segment images, folders, globs, videos or a camera with a trained model.

Every input is checked (exists, decodes, output names distinct) before anything is written,
so a bad file in a list fails the whole command with one error line and no outputs.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from semseg.cli.args import add_device_argument, add_runtime_argument, parse_device, parse_size
from semseg.errors import ConfigError, InputFileError
from semseg.fileio.filetypes import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from semseg.threads import add_threads_argument

IMAGE_SUFFIXES, VIDEO_SUFFIXES = IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
VIDEO_OUTPUTS = (".mp4", ".gif")  # -o OUT.mp4 / OUT.gif: one stream written as a video


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``semseg predict``."""
    p = sub.add_parser(
        "predict",
        help="segment images/videos: index mask, colour mask and overlay with a legend",
        description="MODEL is a .pt/.safetensors file or a pretrained model name. INPUT may be "
        "image files, folders, glob patterns (quoted or not) and videos (.mp4/.avi/.mov/.mkv), "
        "or SemanticKITTI .bin LiDAR scans (see docs/lidar.md). An animated GIF is an image "
        "(its first frame) unless -o is a video path (OUT.mp4, OUT.gif): then all its frames "
        "are segmented.",
    )
    p.add_argument("model", metavar="MODEL", help="checkpoint/safetensors path or pretrained name; "
                   "may be left out: `semseg predict photo.jpg -o out/` uses the strongest "
                   "PASCAL VOC model (deeplabv3-mnv2-voc), like semseg.segment")
    p.add_argument("inputs", metavar="INPUT", nargs="*", help="images, folders, globs, videos")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="output folder (or OUT.mp4 / OUT.gif for a single video, animated GIF "
                   "or camera)")
    p.add_argument("--probs", action="store_true",
                   help="also save <stem>_probs.npz (float16; images only)")
    p.add_argument("--uncertainty", action="store_true",
                   help="Monte-Carlo dropout; saves <stem>_entropy.png and <stem>_variance.png "
                   "(images only)")
    p.add_argument("--mc-samples", type=int, default=20, metavar="N",
                   help="dropout samples with --uncertainty (default 20)")
    p.add_argument("--tta", action="store_true", help="flip + multi-scale test-time augmentation")
    p.add_argument("--scales", metavar="S,S,...", help="test scales, e.g. 0.75,1,1.25")
    p.add_argument("--window", metavar="HxW", help="sliding-window tile size, e.g. 512x512")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity in [0, 1]")
    p.add_argument("--classes", metavar="NAME,...", help="overlay only these classes")
    add_device_argument(p)
    add_threads_argument(p)
    add_runtime_argument(p)
    p.add_argument("--batch-size", type=int, default=4, metavar="N", help="images per forward")
    p.add_argument("--camera", type=int, metavar="INDEX", help="read frames from this webcam")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop a camera after N frames")
    p.add_argument("--temporal", choices=["ema", "flow"],
                   help="smooth class probabilities across frames (videos, cameras, and images "
                   "in the given order): exponential average, or average after warping the "
                   "previous frame with optical flow; resets on scene cuts")
    p.add_argument("--temporal-alpha", type=float, default=0.5, metavar="A",
                   help="weight of the current frame with --temporal (default 0.5)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="ray: read and segment images with Ray Data, a pool of model actors "
                   "(pip install 'semseg[ray]'; images only)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="join this Ray cluster (e.g. auto, or HEAD:6379); default: a local one")
    p.add_argument("--ray-actors", type=int, metavar="N",
                   help="model actors (default: the cluster's CPUs - 1, at least 1)")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Options:
    """Parsed and checked prediction options."""

    scales: tuple[float, ...] | None
    window: tuple[int, int] | None
    classes: list[str] | None
    mc_samples: int


def parse_options(args: argparse.Namespace) -> Options:
    """Turn the option strings into values; bad values raise ``ConfigError``."""
    scales = window = None
    if args.scales:
        try:
            scales = tuple(float(s) for s in args.scales.split(",") if s.strip())
        except ValueError:
            raise ConfigError(
                f"--scales {args.scales!r}: expected numbers like 0.75,1,1.25"
            ) from None
        if not scales or min(scales) <= 0:
            raise ConfigError(f"--scales {args.scales!r}: expected positive numbers")
    if args.window:
        window = parse_size(args.window, "--window")
    if not 0.0 <= args.alpha <= 1.0:
        raise ConfigError(f"--alpha {args.alpha}: expected a value in [0, 1]")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: expected >= 1")
    if args.uncertainty and args.mc_samples < 1:
        raise ConfigError(f"--mc-samples {args.mc_samples}: expected >= 1")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    return Options(scales, window, classes, args.mc_samples if args.uncertainty else 0)


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files, folders (their images and videos) and glob patterns -> distinct files, in order."""
    files: list[Path] = []
    known = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    for raw in patterns:
        path = Path(raw)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in known)
            if not found:
                raise InputFileError(f"{raw}: folder holds no images or videos")
        elif path.exists():  # an existing name is literal even when it has [ ] or *
            if path.suffix.lower() not in known:
                raise InputFileError(
                    f"{raw}: unsupported file type (images: {', '.join(IMAGE_SUFFIXES)}; "
                    f"videos: {', '.join(VIDEO_SUFFIXES)})"
                )
            found = [path]
        elif any(c in raw for c in "*?["):
            found = [Path(m) for m in sorted(glob.glob(raw, recursive=True))
                     if Path(m).is_file() and Path(m).suffix.lower() in known]
            if not found:
                raise InputFileError(f"{raw}: pattern matches no images or videos")
        else:
            raise InputFileError(f"{raw}: file not found")
        files.extend(found)
    return list(dict.fromkeys(files))


def validate_inputs(files: list[Path], videos: list[Path] | None = None) -> dict[Path, object]:
    """Decode every image and probe every video (``videos``: those read as videos, by default
    the video suffixes); also reject outputs that would collide."""
    from semseg.fileio.images import read_image
    from semseg.fileio.video import probe_video

    if videos is None:
        videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    checked: dict[Path, object] = {}
    for f in files:
        if f in videos:
            checked[f] = probe_video(f)
        else:
            checked[f] = read_image(f).shape[:2]
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise InputFileError(
                f"{f} and {stems[f.stem]}: same name stem {f.stem!r}, outputs would overwrite "
                "each other; predict them into separate folders"
            )
        stems[f.stem] = f
    return checked


def _video_dest(output: Path, source: Path | int, single: bool) -> Path:
    if single and output.suffix.lower() in VIDEO_OUTPUTS:
        return output
    stem = f"camera{source}" if isinstance(source, int) else source.stem
    return output / f"{stem}_overlay.mp4"


def default_model_if_left_out(model: str, inputs: list[str]) -> tuple[str, list[str]]:
    """``semseg predict photo.jpg ...``: when the MODEL argument is an input (an image or video
    file, a folder, a glob pattern), the model is ``semseg.segment``'s default."""
    from semseg.inference.oneliner import DEFAULT_MODEL

    path = Path(model)
    is_input = (path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
                                  + VIDEO_SUFFIXES) or (not path.exists() and any(
                                      c in model for c in "*?[")))
    return (DEFAULT_MODEL, [model, *inputs]) if is_input else (model, inputs)


def run(args: argparse.Namespace) -> int:
    """Predict every input; print one summary line."""
    args.model, args.inputs = default_model_if_left_out(args.model, args.inputs)
    args.device = parse_device(args.device)  # 'auto' resolved; CUDA checked before any work
    if args.camera is None:
        from semseg.lidar.commands import is_scan_input, run_predict

        if is_scan_input(args.inputs):  # LiDAR .bin scans: PLY, .label and range-image PNGs
            return run_predict(args)
    opts = parse_options(args)
    output = Path(args.output)
    if args.camera is not None and args.inputs:
        raise ConfigError("--camera takes no INPUT files; give one or the other")
    if args.camera is None and not args.inputs:
        raise ConfigError("no INPUT given (image files, folders, globs, videos or --camera N)")
    files = expand_inputs(args.inputs) if args.inputs else []
    videos = _videos(files, output)
    streams = len(videos) + (args.camera is not None)
    single_stream = streams == 1 and len(files) == len(videos)
    if output.suffix.lower() in VIDEO_OUTPUTS and not single_stream:
        raise ConfigError(f"-o {output}: a {output.suffix.lower()} output needs exactly one "
                          "video, animated GIF or --camera input")
    if output.exists() and not output.is_dir() and not single_stream:
        raise ConfigError(f"-o {output}: exists and is not a folder")
    if args.engine == "ray":
        if args.temporal:
            raise ConfigError("--temporal needs frames in order; use it without --engine ray")
        return _run_ray(args, opts, files, videos, output)
    if args.temporal and opts.mc_samples:
        raise ConfigError("--temporal and --uncertainty cannot be combined")
    validate_inputs(files, videos)

    from semseg.inference.segmenter import Segmenter
    from semseg.threads import set_threads
    from semseg.visualize.overlay import class_ids

    set_threads(args.threads)
    segmenter = Segmenter.from_pretrained(args.model, device=args.device, runtime=args.runtime)
    if opts.classes is not None:
        class_ids(opts.classes, segmenter.info.classes)  # unknown names fail before any write
    kwargs = {"tta": args.tta, "scales": opts.scales, "window": opts.window}
    start = time.perf_counter()
    images = [f for f in files if f not in videos]
    _predict_images(segmenter, images, output, args, opts, kwargs)
    lines = []
    for source in [*videos, *([args.camera] if args.camera is not None else [])]:
        dest = _video_dest(output, source, single_stream)
        report = _predict_stream(segmenter, source, dest, args, opts, kwargs)
        lines.append(f"{source}: {report.frames} frames at {report.fps:.1f} frames/s -> {dest}")
    seconds = time.perf_counter() - start
    for line in lines:
        print(line)
    per_image = f", {1000 * seconds / len(images):.0f} ms/image" if images and not lines else ""
    print(f"predicted {len(images)} image(s) and {len(lines)} video(s) in {seconds:.1f} s"
          f"{per_image} -> {output}")
    return 0


def _videos(files: list[Path], output: Path) -> list[Path]:
    """Inputs read as videos: video files, and a lone GIF when ``-o`` is a video path."""
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    if (output.suffix.lower() in VIDEO_OUTPUTS and len(files) == 1
            and files[0].suffix.lower() == ".gif"):
        videos = list(files)
    return videos


def _progress():
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())


def _predict_images(segmenter, images: list[Path], output: Path, args: argparse.Namespace,
                    opts: Options, kwargs: dict) -> None:
    if not images:
        return
    smoother = _smoother(args)
    with _progress() as bar:
        task = bar.add_task("predict", total=len(images))
        for i in range(0, len(images), args.batch_size):
            chunk = images[i:i + args.batch_size]
            results = segmenter.predict_batch(chunk, mc_samples=opts.mc_samples, **kwargs)
            if smoother is not None:  # images in the given order are frames of one sequence
                results = [smoother(r) for r in results]
            for path, result in zip(chunk, results, strict=True):
                result.save(output, path.stem, probs=args.probs, alpha=args.alpha,
                            classes=opts.classes)
            bar.advance(task, len(chunk))


def _smoother(args: argparse.Namespace):
    """A fresh ``TemporalSmoother`` for one stream, or None without --temporal."""
    if not args.temporal:
        return None
    from semseg.inference.temporal import TemporalSmoother

    return TemporalSmoother(args.temporal, alpha=args.temporal_alpha)


def _predict_stream(segmenter, source: Path | int, dest: Path, args: argparse.Namespace,
                    opts: Options, kwargs: dict):
    from semseg.fileio.video import probe_video, segment_video

    # A container may report 0 frames (unknown): the bar then just counts.
    total = (probe_video(source).frames or None) if isinstance(source, Path) else args.max_frames
    name = source.name if isinstance(source, Path) else f"camera {source}"
    with _progress() as bar:
        task = bar.add_task(name, total=total)
        return segment_video(
            segmenter, source, dest, alpha=args.alpha, classes=opts.classes,
            batch_size=args.batch_size, max_frames=args.max_frames,
            on_frames=lambda n: bar.advance(task, n), smoother=_smoother(args), **kwargs,
        )


def _run_ray(args: argparse.Namespace, opts: Options, files: list[Path], videos: list[Path],
             output: Path) -> int:
    """``--engine ray``: images only; files that fail are named, the others are written."""
    from semseg.inference.ray_predict import predict_with_ray

    if videos or args.camera is not None:
        raise ConfigError("--engine ray segments images only; predict videos without it")
    if opts.mc_samples:
        raise ConfigError("--engine ray does not support --uncertainty")
    stems: dict[str, Path] = {}
    for f in files:  # decoding every file here would defeat the point: the actors decode
        if f.stem in stems:
            raise InputFileError(f"{f} and {stems[f.stem]}: same name stem {f.stem!r}, outputs "
                                 "would overwrite each other")
        stems[f.stem] = f
    options = {"tta": args.tta, "scales": opts.scales, "window": opts.window,
               "probs": args.probs, "alpha": args.alpha, "classes": opts.classes}
    report = predict_with_ray(args.model, files, output, address=args.ray_address,
                              actors=args.ray_actors, batch_size=args.batch_size,
                              device=args.device, options=options)
    for reason in report.failed.values():
        print(f"semseg predict: failed: {reason}", file=sys.stderr)
    print(f"predicted {report.written} image(s) with Ray Data in {report.seconds:.1f} s, "
          f"{report.images_per_s:.2f} images/s ({report.actors} actor(s) x "
          f"{report.cpus_per_actor:.2f} CPU, {report.threads_per_actor} thread(s) each, "
          f"cluster {report.cluster_cpus:g} CPUs) -> {output}")
    if report.failed:
        raise InputFileError(f"{len(report.failed)} of {len(files)} file(s) could not be "
                             f"segmented (listed above); the other {report.written} were written")
    return 0
