"""PixelLib's semantic-segmentation and background-editing API on semseg's pretrained models.

Change ``from pixellib.semantic import semantic_segmentation`` to
``from semseg.compat.pixellib import semantic_segmentation`` (and ``pixellib.tune_bg.alter_bg``
likewise) and PixelLib's documented calls run unchanged. Differences (docs/pixellib_migration.md):

- The model files PixelLib loads (TensorFlow ``.h5``/``.pb``) are not read: ``load_pascalvoc_model``
  loads semseg's ``deeplabv3-mnv2-voc`` (DeepLabv3, same 21 VOC classes) and
  ``load_ade20k_model`` ``mosaic-ade20k`` (ADE20K's 31 most frequent classes + "other", not all
  150), unless given a semseg checkpoint. ``load_cityscapes_model`` and ``segmentAsCityscapes``
  are additions.
- Returned arrays follow OpenCV's BGR order by default, as PixelLib's examples expect
  (``cv2.imwrite(name, output)``, ``cv2.imshow``), and frames passed in are read as BGR;
  ``color_order="rgb"`` switches both to RGB. Files written by these calls always have correct
  colours (PixelLib's Keras path swapped red and blue in some outputs).
- ``segvalues`` keeps PixelLib's keys (``class_ids``, ``masks`` = every non-background pixel) and
  adds ``class_names``, ``class_colors`` (RGB), ``ratios`` (%) and ``class_masks`` (one boolean
  mask per entry of ``class_ids``: PixelLib collapsed all classes into one mask).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from semseg.errors import ConfigError, ModelError
from semseg.fileio.images import atomic_write, read_image, save_image
from semseg.hub.loading import MODEL_SUFFIXES
from semseg.inference.background import change_background
from semseg.inference.result import SegmentationResult
from semseg.inference.segmenter import Segmenter
from semseg.visualize.overlay import overlay as tint

PASCALVOC_MODEL = "deeplabv3-mnv2-voc"
CITYSCAPES_MODEL = "espnetv2-cityscapes"
ADE20K_MODEL = "mosaic-ade20k"
OVERLAY_ALPHA = 0.7  # PixelLib's cv2.addWeighted(colours, 0.7, image, 0.3)
BLUR_KERNELS = {"low": 21, "moderate": 39, "extreme": 81}  # PixelLib's blur sizes
DETECT_ALIASES = {"monitor": "tvmonitor"}  # PixelLib's name for VOC's tvmonitor
Frame = np.ndarray


def _load(model_path: str | os.PathLike | None, default: str, device: str,
          runtime: str = "torch") -> Segmenter:
    """A semseg checkpoint path is used as is; any other path (PixelLib weights) maps to default."""
    if model_path is not None and Path(model_path).suffix.lower() in MODEL_SUFFIXES:
        return Segmenter.from_pretrained(model_path, device=device, runtime=runtime)
    if model_path is not None:
        warnings.warn(f"{model_path}: PixelLib weights are not used; semseg loads its pretrained "
                      f"{default!r} model instead", stacklevel=3)
    return Segmenter.from_pretrained(default, device=device, runtime=runtime)


def _segvalues(result: SegmentationResult) -> dict[str, Any]:
    """PixelLib's segvalues dict, with the per-class masks PixelLib collapsed into one."""
    ids, counts = np.unique(result.mask, return_counts=True)
    info = result.info
    return {
        "class_ids": ids,
        "class_names": [info.classes[i] for i in ids],
        "class_colors": [tuple(info.palette[i]) for i in ids],
        "ratios": [float(100.0 * c / result.mask.size) for c in counts],
        "masks": result.mask != 0 if info.classes[0] == "background" else result.mask >= 0,
        "class_masks": [result.mask == i for i in ids],
    }


class _Engine:
    """Model loading, colour-order conversion and video loops shared by both classes."""

    def __init__(self, color_order: str, device: str, runtime: str = "torch") -> None:
        from semseg.export.runtime import check_runtime

        if color_order not in ("bgr", "rgb"):
            raise ConfigError(f"color_order must be 'bgr' or 'rgb', got {color_order!r}")
        self.color_order, self.device = color_order, device
        self.runtime = check_runtime(runtime)
        self.segmenters: dict[str, Segmenter] = {}

    def segmenter(self, key: str) -> Segmenter:
        if key not in self.segmenters:
            raise ModelError(f"no model loaded: call load_{key}_model(path) first")
        return self.segmenters[key]

    def to_rgb(self, image: str | os.PathLike | Frame, process_frame: bool) -> np.ndarray:
        """A path (read as RGB) or a frame in ``color_order`` -> RGB uint8."""
        if isinstance(image, str | os.PathLike) and not process_frame:
            return read_image(image)
        frame = np.asarray(image)
        if frame.ndim == 3 and frame.shape[2] == 4:
            frame = frame[..., :3]  # drop alpha (PixelLib: BGRA -> BGR)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if self.color_order == "bgr" else frame

    def out(self, rgb: np.ndarray, name: str | os.PathLike | None) -> np.ndarray:
        """Write ``rgb`` to ``name`` (correct colours) and return it in ``color_order``."""
        if name is not None:
            save_image(name, rgb)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if self.color_order == "bgr" else rgb

    def video(self, path: str | os.PathLike, fn: Callable[[np.ndarray], Any],
              fps: float | None, output: str | os.PathLike | None) -> Any:
        """Apply ``fn(rgb_frame) -> (value, rgb_out)`` to each frame; returns the last value."""
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ConfigError(f"{path}: cannot open video")
        rate = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        last: Any = None
        count, start = 0, time.perf_counter()

        def run(tmp: Path | None) -> None:
            nonlocal last, count
            writer = None
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                value, rgb = fn(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if tmp is not None:
                    if writer is None:
                        h, w = rgb.shape[:2]
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                                 rate, (w, h))
                    writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                last, count = (value, rgb), count + 1
            if writer is not None:
                writer.release()

        try:
            atomic_write(output, run) if output is not None else run(None)
        finally:
            cap.release()
        if last is None:
            raise ConfigError(f"{path}: no frames could be read")
        print(f"Processed {count} frames in {time.perf_counter() - start:.1f} seconds")
        return last


class semantic_segmentation:
    """PixelLib's ``semantic_segmentation`` on semseg's VOC, ADE20K and Cityscapes models."""

    def __init__(self, model_type: str = "h5", color_order: str = "bgr",
                 device: str = "cpu", runtime: str = "torch") -> None:
        self.model_type = model_type  # PixelLib's "h5"/"pb" switch; both use the same model here
        self._engine = _Engine(color_order, device, runtime)

    def load_pascalvoc_model(self, model_path: str | os.PathLike | None = None) -> None:
        """Load the PASCAL VOC model (``deeplabv3-mnv2-voc``, or a semseg checkpoint path)."""
        self._engine.segmenters["pascalvoc"] = _load(model_path, PASCALVOC_MODEL,
                                                     self._engine.device, self._engine.runtime)

    def load_cityscapes_model(self, model_path: str | os.PathLike | None = None) -> None:
        """Load the Cityscapes model (``espnetv2-cityscapes``); not in PixelLib."""
        self._engine.segmenters["cityscapes"] = _load(model_path, CITYSCAPES_MODEL,
                                                      self._engine.device, self._engine.runtime)

    def load_ade20k_model(self, model_path: str | os.PathLike | None = None) -> None:
        """Load the ADE20K model (``mosaic-ade20k``: top-31 classes + other, or a checkpoint)."""
        self._engine.segmenters["ade20k"] = _load(model_path, ADE20K_MODEL, self._engine.device)

    def _segment(self, key: str, image: Any, process_frame: bool, output_image_name: Any,
                 overlay: bool, verbose: Any) -> tuple[dict[str, Any], np.ndarray]:
        if verbose is not None:
            print("Processing image....")
        rgb = self._engine.to_rgb(image, process_frame)
        result = self._engine.segmenter(key).predict(rgb)
        picture = self._picture(result, overlay)
        return _segvalues(result), self._engine.out(picture, output_image_name)

    @staticmethod
    def _picture(result: SegmentationResult, overlay: bool) -> np.ndarray:
        if overlay:
            return tint(result.image, result.mask, result.info.palette_array(), OVERLAY_ALPHA)
        return result.color_mask()

    def segmentAsPascalvoc(self, image_path: Any, process_frame: bool = False,
                           output_image_name: str | None = None, overlay: bool = False,
                           verbose: Any = None) -> tuple[dict[str, Any], np.ndarray]:
        """Segment an image file (or a frame with ``process_frame=True``): (segvalues, picture)."""
        return self._segment("pascalvoc", image_path, process_frame, output_image_name, overlay,
                             verbose)

    def segmentFrameAsPascalvoc(self, frame: Frame, output_frame_name: str | None = None,
                                overlay: bool = False, verbose: Any = None):
        """Segment one video/camera frame (BGR by default): (segvalues, picture)."""
        return self._segment("pascalvoc", frame, True, output_frame_name, overlay, verbose)

    def process_video_pascalvoc(self, video_path: str | os.PathLike, overlay: bool = False,
                                frames_per_second: float | None = None,
                                output_video_name: str | None = None):
        """Segment every frame; write the colour-mask or overlay video; last (segvalues, frame)."""
        return self._video("pascalvoc", video_path, overlay, frames_per_second, output_video_name)

    def segmentAsAde20k(self, image_path: Any, output_image_name: str | None = None,
                        overlay: bool = False, process_frame: bool = False,
                        verbose: Any = None) -> tuple[dict[str, Any], np.ndarray]:
        """Like ``segmentAsPascalvoc`` with the ADE20K model (PixelLib's argument order)."""
        return self._segment("ade20k", image_path, process_frame, output_image_name, overlay,
                             verbose)

    def segmentFrameAsAde20k(self, frame: Frame, output_frame_name: str | None = None,
                             overlay: bool = False, verbose: Any = None):
        """Like ``segmentFrameAsPascalvoc`` with the ADE20K model."""
        return self._segment("ade20k", frame, True, output_frame_name, overlay, verbose)

    def process_video_ade20k(self, video_path: str | os.PathLike, overlay: bool = False,
                             frames_per_second: float | None = None,
                             output_video_name: str | None = None):
        """Like ``process_video_pascalvoc`` with the ADE20K model."""
        return self._video("ade20k", video_path, overlay, frames_per_second, output_video_name)

    def segmentAsCityscapes(self, image_path: Any, process_frame: bool = False,
                            output_image_name: str | None = None, overlay: bool = False,
                            verbose: Any = None) -> tuple[dict[str, Any], np.ndarray]:
        """Like ``segmentAsPascalvoc`` with the Cityscapes model (19 street classes)."""
        return self._segment("cityscapes", image_path, process_frame, output_image_name,
                             overlay, verbose)

    def segmentFrameAsCityscapes(self, frame: Frame, output_frame_name: str | None = None,
                                 overlay: bool = False, verbose: Any = None):
        """Like ``segmentFrameAsPascalvoc`` with the Cityscapes model."""
        return self._segment("cityscapes", frame, True, output_frame_name, overlay, verbose)

    def process_video_cityscapes(self, video_path: str | os.PathLike, overlay: bool = False,
                                 frames_per_second: float | None = None,
                                 output_video_name: str | None = None):
        """Like ``process_video_pascalvoc`` with the Cityscapes model."""
        return self._video("cityscapes", video_path, overlay, frames_per_second,
                           output_video_name)

    def _video(self, key: str, path: Any, overlay: bool, fps: Any, output: Any):
        segmenter = self._engine.segmenter(key)

        def frame_fn(rgb: np.ndarray):
            result = segmenter.predict(rgb)
            return _segvalues(result), self._picture(result, overlay)

        segvalues, rgb = self._engine.video(path, frame_fn, fps, output)
        return segvalues, self._engine.out(rgb, None)


class alter_bg:
    """PixelLib's ``alter_bg``: blur, colour, grayscale or replace the background of people."""

    def __init__(self, model_type: str = "h5", color_order: str = "bgr",
                 device: str = "cpu", runtime: str = "torch") -> None:
        self.model_type = model_type
        self._engine = _Engine(color_order, device, runtime)

    def load_pascalvoc_model(self, model_path: str | os.PathLike | None = None) -> None:
        """Load the PASCAL VOC model (``deeplabv3-mnv2-voc``, or a semseg checkpoint path)."""
        self._engine.segmenters["pascalvoc"] = _load(model_path, PASCALVOC_MODEL,
                                                     self._engine.device, self._engine.runtime)

    def segmentAsPascalvoc(self, image_path: Any, process_frame: bool = False):
        """(raw class-id mask, colour mask) as PixelLib's ``alter_bg`` returns them."""
        result = self._engine.segmenter("pascalvoc").predict(
            self._engine.to_rgb(image_path, process_frame))
        return result.mask, self._engine.out(result.color_mask(), None)

    def _edit(self, image: Any, process_frame: bool, detect: str | None, **how: Any) -> np.ndarray:
        return self._edit_rgb(self._engine.to_rgb(image, process_frame), detect, **how)

    def _edit_rgb(self, rgb: np.ndarray, detect: str | None, **how: Any) -> np.ndarray:
        """Keep ``detect`` (None: every VOC object) and change the rest as ``how`` says."""
        result = self._engine.segmenter("pascalvoc").predict(rgb)
        classes = (DETECT_ALIASES.get(detect, detect),) if detect is not None else None
        return change_background(rgb, result, classes=classes, **how)

    def _bg_image(self, b_image_path: Any) -> np.ndarray:
        return read_image(b_image_path)

    @staticmethod
    def _kernel(low: bool, moderate: bool, extreme: bool) -> int:
        # PixelLib checks low, then moderate, then extreme (the last one set wins); none: moderate.
        chosen = [k for k, on in (("low", low), ("moderate", moderate), ("extreme", extreme)) if on]
        return BLUR_KERNELS[chosen[-1] if chosen else "moderate"]

    def change_bg_img(self, f_image_path: Any, b_image_path: Any, output_image_name: Any = None,
                      verbose: Any = None, detect: str | None = None) -> np.ndarray:
        """Replace the background with the picture ``b_image_path`` (resized to fit)."""
        out = self._edit(f_image_path, False, detect, mode="image",
                         background_image=self._bg_image(b_image_path))
        return self._engine.out(out, output_image_name)

    def blur_bg(self, image_path: Any, low: bool = False, moderate: bool = False,
                extreme: bool = False, output_image_name: Any = None, verbose: Any = None,
                detect: str | None = None) -> np.ndarray:
        """Blur the background (kernel 21, 39 or 81 for low, moderate, extreme)."""
        out = self._edit(image_path, False, detect, mode="blur",
                         blur_kernel=self._kernel(low, moderate, extreme))
        return self._engine.out(out, output_image_name)

    def color_bg(self, image_path: Any, colors: Sequence[int], output_image_name: Any = None,
                 verbose: Any = None, detect: str | None = None) -> np.ndarray:
        """Paint the background one colour; ``colors`` is (R, G, B) as in PixelLib's docs."""
        out = self._edit(image_path, False, detect, mode="color", color=tuple(colors))
        return self._engine.out(out, output_image_name)

    def gray_bg(self, image_path: Any, output_image_name: Any = None, verbose: Any = None,
                detect: str | None = None) -> np.ndarray:
        """Grayscale the background."""
        out = self._edit(image_path, False, detect, mode="gray")
        return self._engine.out(out, output_image_name)

    def change_frame_bg(self, frame: Frame, b_image_path: Any, verbose: Any = None,
                        detect: str | None = None) -> np.ndarray:
        """``change_bg_img`` for one frame (BGR by default)."""
        bg = self._bg_image(b_image_path)
        return self._engine.out(self._edit(frame, True, detect, mode="image",
                                           background_image=bg), None)

    def blur_frame(self, frame: Frame, low: bool = False, moderate: bool = False,
                   extreme: bool = False, verbose: Any = None, detect: str | None = None):
        """``blur_bg`` for one frame."""
        out = self._edit(frame, True, detect, mode="blur",
                         blur_kernel=self._kernel(low, moderate, extreme))
        return self._engine.out(out, None)

    def color_frame(self, frame: Frame, colors: Sequence[int], verbose: Any = None,
                    detect: str | None = None) -> np.ndarray:
        """``color_bg`` for one frame."""
        return self._engine.out(self._edit(frame, True, detect, mode="color",
                                           color=tuple(colors)), None)

    def gray_frame(self, frame: Frame, verbose: Any = None, detect: str | None = None):
        """``gray_bg`` for one frame."""
        return self._engine.out(self._edit(frame, True, detect, mode="gray"), None)

    def _video(self, path: Any, fps: Any, output: Any, detect: str | None, **how: Any):
        _, rgb = self._engine.video(path, lambda f: (None, self._edit_rgb(f, detect, **how)),
                                    fps, output)
        return self._engine.out(rgb, None)

    def change_video_bg(self, video_path: Any, b_image_path: Any, frames_per_second: Any = None,
                        output_video_name: Any = None, detect: str | None = None) -> np.ndarray:
        """``change_bg_img`` on every frame of a video; returns the last output frame."""
        return self._video(video_path, frames_per_second, output_video_name, detect,
                           mode="image", background_image=self._bg_image(b_image_path))

    def blur_video(self, video_path: Any, low: bool = False, moderate: bool = False,
                   extreme: bool = False, frames_per_second: Any = None,
                   output_video_name: Any = None, detect: str | None = None) -> np.ndarray:
        """``blur_bg`` on every frame of a video; returns the last output frame."""
        return self._video(video_path, frames_per_second, output_video_name, detect,
                           mode="blur", blur_kernel=self._kernel(low, moderate, extreme))

    def color_video(self, video_path: Any, colors: Sequence[int], frames_per_second: Any = None,
                    output_video_name: Any = None, detect: str | None = None) -> np.ndarray:
        """``color_bg`` on every frame of a video; returns the last output frame."""
        return self._video(video_path, frames_per_second, output_video_name, detect,
                           mode="color", color=tuple(colors))

    def gray_video(self, video_path: Any, frames_per_second: Any = None,
                   output_video_name: Any = None, detect: str | None = None) -> np.ndarray:
        """``gray_bg`` on every frame of a video; returns the last output frame."""
        return self._video(video_path, frames_per_second, output_video_name, detect, mode="gray")
