"""Per-pixel inputs of the forests: CIELAB at a reduced scale, or a trained CNN's features.

Example:
    >>> stack = lab_stack(image_uint8_rgb, scale=0.5)           # (3, H/2, W/2) float32
    >>> feats = CnnFeatures("camvid-litefpn")(image_uint8_rgb)  # (96, H/4, W/4)
"""

from __future__ import annotations

import cv2
import numpy as np

from semseg.errors import ModelError


def lab_stack(image: np.ndarray, scale: float) -> np.ndarray:
    """CIELAB (L in 0..100, a/b about -128..127) of an RGB uint8 image resized by ``scale``."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image[..., :3], size, interpolation=cv2.INTER_AREA) if scale != 1 else \
        image[..., :3]
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)  # (h, w, 3)
    return np.ascontiguousarray(lab.transpose(2, 0, 1))


def pad_stack(stack: np.ndarray, radius: int) -> np.ndarray:
    """Edge-replicate a (C, H, W) stack by ``radius`` pixels on every side."""
    return np.pad(stack, ((0, 0), (radius, radius), (radius, radius)), mode="edge")


class CnnFeatures:
    """The input of a segmentation model's final 1x1 classifier (e.g. LiteFPN's fused
    stride-4 FPN features), for a model name or checkpoint path that ``Segmenter`` loads."""

    def __init__(self, model: str, threads: int | None = None) -> None:
        import torch

        from semseg.inference.segmenter import Segmenter

        if threads:
            torch.set_num_threads(threads)
        self.name = model
        self.segmenter = Segmenter.from_pretrained(model)
        head = getattr(self.segmenter.model, "classifier", None)
        if not isinstance(head, torch.nn.Conv2d):
            raise ModelError(f"{model}: a forest head needs a model whose final layer is a "
                             "Conv2d named 'classifier' (e.g. camvid-litefpn)")
        self.head = head
        self.channels = head.in_channels

    @property
    def info(self):
        """The CNN's ``DatasetInfo`` (its classes must match the forest's)."""
        return self.segmenter.info

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(C, h, w) float32 features of one RGB uint8 image."""
        import torch

        from semseg.data.transforms import normalize_image

        seen: list[torch.Tensor] = []
        hook = self.head.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
        try:
            x = normalize_image(image, self.info)[None]  # (1, 3, H, W)
            with torch.inference_mode():
                self.segmenter.model.eval()(x)
        finally:
            hook.remove()
        return seen[0][0].float().numpy()
