"""Write a segmented scan: a coloured PLY point cloud, a SemanticKITTI ``.label`` file, PNGs.

Every file is written atomically; ``save_prediction`` builds all arrays before the first write.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from semseg.fileio.images import atomic_write, save_image

PLY_FIELDS = (("x", "<f4", "float"), ("y", "<f4", "float"), ("z", "<f4", "float"),
              ("remission", "<f4", "float"), ("red", "u1", "uchar"), ("green", "u1", "uchar"),
              ("blue", "u1", "uchar"), ("label", "<u2", "ushort"), ("entropy", "<f4", "float"),
              ("epistemic", "<f4", "float"), ("variance", "<f4", "float"))


def ply_bytes(points: np.ndarray, colors: np.ndarray, labels: np.ndarray,
              entropy: np.ndarray, epistemic: np.ndarray, variance: np.ndarray) -> bytes:
    """A binary little-endian PLY: one vertex per point with colour, raw label, uncertainty."""
    n = len(points)
    vertex = np.empty(n, dtype=[(name, dt) for name, dt, _ in PLY_FIELDS])
    for i, axis in enumerate(("x", "y", "z", "remission")):
        vertex[axis] = points[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertex[channel] = colors[:, i]
    vertex["label"], vertex["entropy"] = labels, entropy
    vertex["epistemic"], vertex["variance"] = epistemic, variance
    header = ["ply", "format binary_little_endian 1.0",
              "comment semseg LiDAR segmentation: label is the raw SemanticKITTI id",
              f"element vertex {n}", *(f"property {t} {name}" for name, _, t in PLY_FIELDS),
              "end_header"]
    return ("\n".join(header) + "\n").encode("ascii") + vertex.tobytes()


def read_ply(path: str | Path) -> np.ndarray:
    """The vertex table of a PLY written by ``ply_bytes`` (a structured array)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    n = int(next(line.split()[2] for line in lines if line.startswith("element vertex")))
    types = {t: dt for _, dt, t in PLY_FIELDS}
    dtype = [(line.split()[2], types[line.split()[1]]) for line in lines
             if line.startswith("property")]
    return np.frombuffer(data[end:], dtype=dtype, count=n)


def range_png(range_image: np.ndarray, max_range: float = 80.0) -> np.ndarray:
    """(H, W, 3) RGB of ranges in metres (magma, near = dark); empty pixels black."""
    from semseg.visualize.overlay import heatmap

    rgb = heatmap(np.sqrt(np.clip(range_image, 0, None)), math.sqrt(max_range))
    rgb[range_image < 0] = 0
    return rgb


def label_png(pixel_labels: np.ndarray, mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) class colours where a point landed, black elsewhere."""
    rgb = np.asarray(palette, np.uint8)[np.clip(pixel_labels, 0, len(palette) - 1)]
    rgb[~mask] = 0
    return rgb


def uncertainty_png(values: np.ndarray, mask: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W, 3) magma heat map of an uncertainty map in [0, vmax]; empty pixels black."""
    from semseg.visualize.overlay import heatmap

    rgb = heatmap(values, vmax)
    rgb[~mask] = 0
    return rgb


def save_prediction(out_dir: str | Path, stem: str, points: np.ndarray, pred,
                    palette: np.ndarray, raw_labels: np.ndarray) -> list[Path]:
    """Write STEM.ply, STEM.label and STEM_{range,labels,uncertainty}.png; returns the paths."""
    out = Path(out_dir)
    proj = pred.projection
    num_classes = len(palette)
    colors = np.asarray(palette, np.uint8)[pred.labels]
    ply = ply_bytes(points, colors, raw_labels, pred.entropy, pred.epistemic, pred.variance)
    images = {
        "range": range_png(proj.range_image),
        "labels": label_png(pred.pixel_labels, proj.mask, palette),
        "uncertainty": uncertainty_png(pred.pixels.entropy.cpu().numpy(), proj.mask,
                                       math.log(num_classes)),
    }
    written = [atomic_write(out / f"{stem}.ply", lambda tmp: tmp.write_bytes(ply)),
               atomic_write(out / f"{stem}.label",
                            lambda tmp: tmp.write_bytes(raw_labels.astype("<u4").tobytes()))]
    written += [save_image(out / f"{stem}_{name}.png", rgb) for name, rgb in images.items()]
    return written
