"""``semseg.segment``: one call from a photo to a segmentation, for scripts and notebooks.

The module is not called ``segment.py``: a submodule named like the function would replace
``semseg.segment`` with the module as soon as anything imported it.

Example:
    >>> import semseg
    >>> result = semseg.segment("photo.jpg", output="photo_overlay.png")
    >>> result.class_shares()  # {'background': 0.57, 'person': 0.42, ...}
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from semseg.fileio.images import IMAGE_EXTENSIONS, save_image
from semseg.inference.result import SegmentationResult
from semseg.inference.segmenter import ImageLike, Segmenter

DEFAULT_MODEL = "deeplabv3-mnv2-voc"  # strongest VOC model: 74.3 mIoU VOC val (reported)


@functools.lru_cache(maxsize=4)
def get_segmenter(model: str = DEFAULT_MODEL, device: str = "cpu",
                  runtime: str = "torch") -> Segmenter:
    """A ``Segmenter`` for a pretrained name or checkpoint path, loaded once per process."""
    return Segmenter.from_pretrained(model, device=device, runtime=runtime)


def segment(
    image: ImageLike,
    model: str | os.PathLike = DEFAULT_MODEL,
    output: str | os.PathLike | None = None,
    overlay: bool = True,
    alpha: float = 0.5,
    classes: Iterable[str] | None = None,
    device: str = "cpu",
    runtime: str = "torch",
) -> SegmentationResult:
    """Segment one image (path, RGB array or PIL image) and optionally save the picture.

    ``output`` ending in an image suffix (``.png``, ``.jpg``...) receives the overlay with a
    legend (``overlay=True``) or the colour mask; any other ``output`` is a folder that receives
    ``<stem>_mask.png``, ``_color.png`` and ``_overlay.png``. ``classes`` limits the overlay to
    those class names. The model is loaded on first use and kept for later calls.
    ``runtime="onnxruntime"`` runs the network with ONNX Runtime (see ``Segmenter``).
    """
    classes = list(classes) if classes is not None else None
    result = get_segmenter(str(model), device, runtime).predict(image)
    if output is None:
        return result
    out = Path(output)
    if out.suffix.lower() in IMAGE_EXTENSIONS:
        picture = result.overlay(alpha=alpha, classes=classes) if overlay else result.color_mask()
        save_image(out, picture)
    else:
        stem = Path(image).stem if isinstance(image, str | os.PathLike) else "image"
        result.save(out, stem, alpha=alpha, classes=classes)
    return result
