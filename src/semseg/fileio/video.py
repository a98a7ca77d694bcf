"""Segmenting videos and camera streams with OpenCV; output is an overlay video (mp4v or GIF).

OpenCV reads and writes BGR; frames are converted to RGB before the model and back to BGR
only at the writer, so colours match the image outputs. Video overlays carry no legend: a
legend panel would change the frame size from frame to frame.

Animated GIFs are read (and, for a ``.gif`` destination, written) with Pillow: every frame,
at the frame rate of the GIF's frame durations (frames without a duration, or of 10 ms or
less, last 100 ms, as web browsers show them). A GIF output keeps all its frames in memory
until the end and is written once, looping forever.

Example:
    >>> report = segment_video(Segmenter.from_pretrained("m.pt"), "in.mp4", "out.mp4")
    >>> report.fps  # frames processed per second
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from semseg.errors import InputFileError
from semseg.fileio.images import atomic_write

CAMERA_FPS = 30.0  # used when a camera does not report its frame rate
GIF_DEFAULT_MS = 100  # duration of a GIF frame that gives none (or <= 10 ms), as browsers do


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read before any output is written."""

    frames: int  # as reported by the container; 0 when unknown
    fps: float
    size: tuple[int, int]  # (H, W)


@dataclass(frozen=True)
class VideoReport:
    """Frames segmented, seconds spent, and where the overlay video went."""

    output: Path
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        """Frames segmented per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def open_capture(source: str | os.PathLike | int) -> cv2.VideoCapture:
    """An opened capture for a video file or a camera index; a clear error when it cannot open."""
    if isinstance(source, int):
        # OpenCV logs a warning per backend it tries; the error below says it in one line.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            cap = cv2.VideoCapture(source)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not cap.isOpened():
            raise InputFileError(f"camera {source}: cannot be opened (no camera at that index?)")
        return cap
    path = Path(source)
    if not path.is_file():
        raise InputFileError(f"{path}: video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputFileError(f"{path}: not a readable video (OpenCV could not open it)")
    return cap


def is_gif(source: str | os.PathLike | int) -> bool:
    """Whether ``source`` names a GIF file (read with Pillow, all frames)."""
    return not isinstance(source, int) and Path(source).suffix.lower() == ".gif"


def _open_gif(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputFileError(f"{path}: GIF file not found")
    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError) as e:
        raise InputFileError(f"{path}: not a readable GIF ({e})") from None


def _gif_durations_ms(img: Image.Image) -> list[int]:
    """Per-frame display time in ms (``GIF_DEFAULT_MS`` where none or <= 10 ms is given)."""
    durations = []
    for frame in ImageSequence.Iterator(img):
        ms = int(frame.info.get("duration") or 0)
        durations.append(ms if ms > 10 else GIF_DEFAULT_MS)
    img.seek(0)
    return durations


def probe_gif(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate (frames / total duration) and size of an animated GIF."""
    path = Path(path)
    with _open_gif(path) as img:
        try:
            durations = _gif_durations_ms(img)
        except (OSError, ValueError, EOFError) as e:
            raise InputFileError(f"{path}: GIF frames do not decode ({e})") from None
        w, h = img.size
    return VideoInfo(len(durations), 1000.0 * len(durations) / sum(durations), (h, w))


def _gif_frames(path: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    """RGB frames of a GIF, composited as Pillow shows them, up to ``max_frames``."""
    with _open_gif(path) as img:
        for n, frame in enumerate(ImageSequence.Iterator(img)):
            if max_frames is not None and n >= max_frames:
                return
            yield np.array(frame.convert("RGB"))  # (H, W, 3) RGB, writable


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Check that a video opens and its first frame decodes; return its frame count and size."""
    if is_gif(path):
        return probe_gif(path)
    cap = open_capture(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputFileError(f"{path}: video has no decodable frames")
        frames = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or CAMERA_FPS
        return VideoInfo(frames, fps, frame.shape[:2])
    finally:
        cap.release()


def _frames(cap: cv2.VideoCapture, max_frames: int | None) -> Iterator[np.ndarray]:
    """RGB frames until the stream ends or ``max_frames`` is reached."""
    n = 0
    while max_frames is None or n < max_frames:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        n += 1
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # (H, W, 3) RGB


def _batches(frames: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def segment_video(
    segmenter: Any,
    source: str | os.PathLike | int,
    dest: str | os.PathLike,
    *,
    alpha: float = 0.5,
    classes: Iterable[str] | None = None,
    batch_size: int = 4,
    max_frames: int | None = None,
    on_frames: Callable[[int], None] | None = None,
    smoother: Callable[[Any], Any] | None = None,
    **predict_kwargs: Any,
) -> VideoReport:
    """Write an overlay video of ``source`` (file or camera index) to ``dest`` atomically.

    A ``.gif`` source is read frame by frame with Pillow; a ``.gif`` ``dest`` is an animated
    GIF, any other suffix an mp4v video. ``segmenter`` is a
    ``semseg.inference.segmenter.Segmenter``;
    ``predict_kwargs`` go to its ``predict_batch`` (tta, scales, window). ``on_frames(n)`` is
    called after each batch. A camera stream stops at ``max_frames`` or Ctrl-C, and the video
    written so far is kept.
    ``smoother`` (e.g. ``semseg.inference.temporal.TemporalSmoother``) maps each frame's result in
    order.
    """
    classes = list(classes) if classes is not None else None
    cap = None
    if is_gif(source):
        fps = probe_gif(source).fps
        frames = _gif_frames(Path(source), max_frames)
    else:
        cap = open_capture(source)
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or CAMERA_FPS
        frames = _frames(cap, max_frames)
    count = 0
    start = time.perf_counter()

    def write(tmp: Path) -> None:
        nonlocal count
        writer = None
        try:
            for batch in _batches(frames, max(batch_size, 1)):
                results = segmenter.predict_batch(batch, **predict_kwargs)
                if smoother is not None:
                    results = [smoother(r) for r in results]
                for res in results:
                    frame = res.overlay(alpha=alpha, classes=classes, legend=False)
                    if writer is None:
                        writer = _open_writer(tmp, fps, frame.shape[:2], is_gif(dest))
                    writer.write(frame)
                count += len(results)
                if on_frames is not None:
                    on_frames(len(results))
        except KeyboardInterrupt:
            if not isinstance(source, int):
                raise  # a file is left unwritten; a live camera keeps what it recorded
        finally:
            if writer is not None:
                writer.release()
        if writer is None:
            raise InputFileError(f"{source}: no frames could be read")

    try:
        out = atomic_write(dest, write)
    finally:
        if cap is not None:
            cap.release()
        else:
            frames.close()  # closes the GIF file when the stream stopped early
    return VideoReport(out, count, time.perf_counter() - start)


class _Mp4Writer:
    """RGB frames -> an mp4v video (OpenCV, BGR)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        h, w = size
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not self.writer.isOpened():
            raise InputFileError(f"{path}: OpenCV cannot write an mp4v video here")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def release(self) -> None:
        self.writer.release()


class _GifWriter:
    """RGB frames -> an animated GIF (Pillow), written on ``release``; loops forever."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.frames = path, []
        self.duration = max(round(1000.0 / fps / 10) * 10, 20)  # GIF stores centiseconds

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(Image.fromarray(frame))

    def release(self) -> None:
        if self.frames:
            self.frames[0].save(self.path, format="GIF", save_all=True,
                                append_images=self.frames[1:], duration=self.duration, loop=0)
            self.frames = []


def _open_writer(path: Path, fps: float, size: tuple[int, int],
                 gif: bool = False) -> _Mp4Writer | _GifWriter:
    return _GifWriter(path, fps) if gif else _Mp4Writer(path, fps, size)
