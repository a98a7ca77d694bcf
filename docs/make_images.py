"""Draw the example images in docs/images/ and print the measured numbers of docs/pretrained.md.

Run from the repository root (the weights come from the cache, the mirror, or the network):

    SEMSEG_WEIGHTS_MIRROR=../shared/weights python docs/make_images.py

Photos are scikit-image's bundled ones; the boxes are the ones tests/inference/test_oneliner.py
checks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

import semseg
from semseg.inference.background import change_background

OUT = Path(__file__).resolve().parent / "images"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CAMVID_FRAME = SHARED / "data" / "camvid" / "val" / "0016E5_08099.png"

# photo -> (class, {region: box}, hand box around the object); boxes are (r0, r1, c0, c1)
PHOTOS = {
    "astronaut": ("person", {"face": (40, 150, 170, 280), "torso": (220, 480, 60, 330),
                             "helmet": (380, 500, 300, 480)}, (15, 512, 20, 360)),
    "chelsea": ("cat", {"head": (40, 260, 60, 330), "right edge": (0, 150, 410, 451)},
                (0, 300, 20, 380)),
    "motorcycle": ("motorbike", {"engine": (200, 350, 250, 450), "floor": (460, 500, 0, 741)},
                   (75, 445, 110, 680)),
}


def photo(name: str) -> np.ndarray:
    """scikit-image photo (the motorcycle is the left stereo view)."""
    return data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()


def save_png(name: str, rgb: np.ndarray) -> None:
    """Write an illustration as a 256-colour PNG (a third of the size; fine for a picture)."""
    Image.fromarray(rgb).quantize(256).save(OUT / name, optimize=True)
    print(f"wrote docs/images/{name}")


VOC_MODELS = ("espnetv2-voc", "deeplabv3-mnv2-voc")


def measure(name: str, model: str) -> str:
    """One markdown table row: top classes, share of the class in each box, IoU with the box."""
    cls, boxes, hand = PHOTOS[name]
    image = photo(name)
    result = semseg.segment(image, model=model)
    shares = ", ".join(f"{c} {100 * s:.1f}%" for c, s in list(result.class_shares().items())[:3])
    mask = result.class_masks([cls])[cls]
    regions = ", ".join(f"{r} {mask[b[0]:b[1], b[2]:b[3]].mean():.2f}" for r, b in boxes.items())
    rect = np.zeros(mask.shape, bool)
    rect[hand[0]:hand[1], hand[2]:hand[3]] = True
    iou = (mask & rect).sum() / (mask | rect).sum()
    if model == "espnetv2-voc":
        save_png(f"{name}_voc_overlay.png", result.overlay(alpha=0.5))
    size = f"{image.shape[1]}x{image.shape[0]}"
    return f"| `{model}` | {name} ({size}) | {shares} | {cls}: {regions} | {iou:.2f} |"


def compare(name: str) -> None:
    """ESPNetv2 (left) and DeepLabv3 (right) overlays of one photo, side by side."""
    overlays = [semseg.segment(photo(name), model=m).overlay(alpha=0.5)
                for m in VOC_MODELS]
    gap = np.full((overlays[0].shape[0], 8, 3), 255, np.uint8)
    save_png(f"{name}_voc_compare.png", np.concatenate([overlays[0], gap, overlays[1]], axis=1))


def ade_street() -> None:
    """MOSAIC (ADE20K top-31) on the CamVid frame."""
    if CAMVID_FRAME.is_file():
        result = semseg.segment(CAMVID_FRAME, model="mosaic-ade20k")
        save_png("camvid_ade20k_overlay.png", result.overlay(alpha=0.5))


def street() -> str | None:
    """Cityscapes model on a CamVid frame: road share at the bottom centre, sky at the top."""
    if not CAMVID_FRAME.is_file():
        return None
    result = semseg.segment(CAMVID_FRAME, model="espnetv2-cityscapes")
    names, m = result.info.classes, result.mask
    h, w = m.shape
    road = (m[int(0.85 * h):, int(0.35 * w):int(0.65 * w)] == names.index("road")).mean()
    sky = (m[:40, 180:300] == names.index("sky")).mean()
    save_png("camvid_cityscapes_overlay.png", result.overlay(alpha=0.5))
    return f"road in the bottom-centre box {road:.2f}, sky in the top-centre box {sky:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    OUT.mkdir(exist_ok=True)
    rows = [measure(name, model) for model in VOC_MODELS for name in PHOTOS]
    for name in PHOTOS:
        compare(name)
    ade_street()
    astronaut = semseg.segment(photo("astronaut"), model="espnetv2-voc")
    save_png("astronaut_blur_background.png",
              change_background(astronaut.image, astronaut, mode="blur", feather=2.0))
    print("| model | photo | top classes (pixel share) | class share in box | IoU with hand box |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(street() or f"{CAMVID_FRAME} absent: no street example")


if __name__ == "__main__":
    main()
