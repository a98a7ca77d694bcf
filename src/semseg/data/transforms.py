"""Paired image/mask transforms on albumentations: masks resize NEAREST and pad with ignore.

RGB-D inputs ((H, W, 4) float32, see ``dataset.DEPTH_PER_METER``) take the same steps with a
4-channel mean/std; colour jitter touches their RGB channels only.

Example:
    >>> from semseg.data import camvid
    >>> tf = train_transform(camvid.INFO, crop_size=(360, 480))
    >>> image, mask = tf(image_uint8_hwc, mask_uint8_hw)  # (3, H, W) float, (H, W) long
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch

from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError


class PairTransform:
    """Apply an albumentations pipeline to (image, mask) and convert both to tensors.

    Albumentations keeps a private random state that ``np.random.seed`` does not reach and that
    every DataLoader worker would inherit unchanged (the same augmentations in all workers), so
    each call reseeds the pipeline from NumPy's global generator, which the user seeds and
    PyTorch reseeds per worker.
    """

    def __init__(self, pipeline: A.Compose) -> None:
        self.pipeline = pipeline

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.pipeline, "set_random_seed"):
            self.pipeline.set_random_seed(int(np.random.randint(0, 2**31 - 1)))
        out = self.pipeline(image=image, mask=mask)
        img = torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1)))  # (C, H, W)
        return img.float(), torch.from_numpy(np.ascontiguousarray(out["mask"])).long()

    def __repr__(self) -> str:
        return f"PairTransform({self.pipeline!r})"


class RGBColorJitter(A.ColorJitter):
    """ColorJitter on the RGB channels only: RGB-D inputs keep their depth channel untouched."""

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        if img.ndim == 2 or img.shape[-1] == 3:
            return super().apply(img, **params)
        # RGB-D inputs are float32 with RGB in 0..255; the jitter functions expect uint8 there.
        rgb = np.clip(np.rint(img[..., :3]), 0, 255).astype(np.uint8)  # (H, W, 3)
        out = img.copy()
        out[..., :3] = super().apply(rgb, **params)
        return out


def check_size(size: tuple[int, int], what: str) -> tuple[int, int]:
    """``size`` as (height, width) ints; below 8x8 raises ``ConfigError`` naming ``what``."""
    h, w = (int(v) for v in size)
    if h < 8 or w < 8:
        raise ConfigError(f"{what} must be at least 8x8 (height, width), got {size}")
    return h, w


def train_transform(
    info: DatasetInfo,
    crop_size: tuple[int, int] = (360, 480),
    scale_range: tuple[float, float] = (0.5, 2.0),
    hflip: bool = True,
    color_jitter: float = 0.3,
) -> PairTransform:
    """Random scale, crop (padding images with 0 and masks with ignore), flip, colour jitter."""
    h, w = check_size(crop_size, "crop size")
    lo, hi = scale_range
    if not 0 < lo <= hi:
        raise ConfigError(f"scale range must satisfy 0 < min <= max, got {scale_range}")
    steps: list[A.BasicTransform] = [
        A.RandomScale(scale_limit=(lo - 1.0, hi - 1.0), interpolation=cv2.INTER_LINEAR,
                      mask_interpolation=cv2.INTER_NEAREST, p=1.0),
        A.PadIfNeeded(min_height=h, min_width=w, border_mode=cv2.BORDER_CONSTANT,
                      fill=0, fill_mask=info.ignore_index),
        A.RandomCrop(height=h, width=w),
    ]
    if hflip:
        steps.append(A.HorizontalFlip(p=0.5))
    if color_jitter > 0:
        j = color_jitter
        jitter = RGBColorJitter if len(info.mean) > 3 else A.ColorJitter  # RGB-D: RGB only
        steps.append(jitter(brightness=j, contrast=j, saturation=j, hue=min(j / 6, 0.5), p=0.8))
    steps.append(A.Normalize(mean=info.mean, std=info.std, max_pixel_value=255.0))
    return PairTransform(A.Compose(steps))


def eval_transform(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation pair: the image as a (C, H, W) tensor of its own dtype (uint8 RGB; float32
    RGB-D), the (H, W) long mask, both at native size.

    Normalization, resizing or padding and the resize back happen in ``semseg.inference.segmenter``
    (``predict_logits``), the same code for training validation, ``semseg eval`` and
    ``Segmenter``; scores are computed at the mask's resolution.
    """
    return to_chw(image), torch.from_numpy(np.ascontiguousarray(mask)).long()


def normalize(images: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """(N, C, H, W) uint8 images (RGB-D: float32 on the 0..255 scale) -> float32 normalized with
    the dataset's mean/std: the one normalization of every inference and evaluation path."""
    mean = torch.tensor(info.mean, device=images.device).view(1, -1, 1, 1) * 255.0
    std = torch.tensor(info.std, device=images.device).view(1, -1, 1, 1) * 255.0
    return (images.float() - mean) / std  # (N, C, H, W)


def to_chw(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) array -> (C, H, W) tensor of the same dtype (no copy when contiguous and
    writable; a read-only array, e.g. ``np.asarray(pil_image)``, is copied)."""
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:
        image = image.copy()
    return torch.from_numpy(image).permute(2, 0, 1)


def normalize_image(image: np.ndarray, info: DatasetInfo) -> torch.Tensor:
    """(H, W, C) uint8 -> normalized (C, H, W) float tensor with the dataset's mean/std."""
    return normalize(to_chw(image)[None], info)[0]
