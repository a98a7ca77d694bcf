"""Temporally stable video segmentation: smoothing class probabilities across frames.

``ema``: p_t <- alpha * p_t + (1 - alpha) * p_{t-1}, cheap but labels trail moving objects.
``flow``: the previous smoothed probabilities are first warped to the current frame with dense
optical flow (OpenCV DIS, backward flow t -> t-1), so averaging follows the motion. Both reset
on a scene cut (a large mean grey-level change between frames).

``label_change_rate`` measures flicker: the share of pixels whose label differs between
consecutive frames after flow compensation (lower is steadier). The ground truth's own rate gives
the scale of flow errors and real change; a coarser prediction can go below it, and a constant
one never changes, so always report it beside mIoU.

Example:
    >>> smoother = TemporalSmoother("flow", alpha=0.5)
    >>> for frame in frames:                       # (H, W, 3) uint8 RGB
    ...     result = smoother(segmenter.predict(frame))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from semseg.errors import ConfigError

METHODS = ("ema", "flow")


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)  # (H, W) uint8


def backward_flow(frame: np.ndarray, prev: np.ndarray, dis=None) -> np.ndarray:
    """(H, W, 2) flow from ``frame`` to ``prev``: pixel (x, y) of frame sits at (x, y) + flow
    in prev. OpenCV DIS (fast preset) on grey levels."""
    dis = dis if dis is not None else cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    return dis.calc(_gray(frame), _gray(prev), None)  # (H, W, 2) float32


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]  # (H, W) each


def warp(values: np.ndarray, flow: np.ndarray, nearest: bool = False,
         fill: float | None = None) -> np.ndarray:
    """Warp (C, H, W) or (H, W) ``values`` of the previous frame into the current one.

    Pixels whose flow leaves the image take ``fill``, or the nearest border value when None.
    """
    map_x, map_y = _sample_grid(flow)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    border = dict(borderMode=cv2.BORDER_REPLICATE) if fill is None else dict(
        borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    planes = values[None] if values.ndim == 2 else values
    out = np.stack([cv2.remap(np.ascontiguousarray(p), map_x, map_y, interp, **border)
                    for p in planes])
    return out[0] if values.ndim == 2 else out


def is_scene_cut(frame: np.ndarray, prev: np.ndarray, threshold: float) -> bool:
    """True when the mean absolute grey-level change (0..1) exceeds ``threshold``."""
    a, b = _gray(frame).astype(np.float32), _gray(prev).astype(np.float32)
    return a.shape != b.shape or float(np.abs(a - b).mean()) / 255.0 > threshold


class TemporalSmoother:
    """Stateful smoother of per-frame results (``SegmentationResult``); one per stream."""

    def __init__(self, method: str = "ema", alpha: float = 0.5, cut_threshold: float = 0.25):
        if method not in METHODS:
            raise ConfigError(f"temporal method {method!r}: expected one of {METHODS}")
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"temporal alpha {alpha}: expected a value in (0, 1]")
        self.method, self.alpha, self.cut_threshold = method, alpha, cut_threshold
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST) \
            if method == "flow" else None
        self.reset()

    def reset(self) -> None:
        """Forget the history (the next frame starts afresh)."""
        self._probs: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self.cuts = 0

    def smooth(self, frame: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Smoothed (K, H, W) probabilities for ``frame`` (H, W, 3) RGB given its own ``probs``."""
        prev, prev_frame = self._probs, self._frame
        if prev is None or prev.shape != probs.shape or is_scene_cut(
                frame, prev_frame, self.cut_threshold):
            self.cuts += prev is not None
            out = probs.astype(np.float32)
        else:
            if self.method == "flow":
                flow = backward_flow(frame, prev_frame, self._dis)
                prev = warp(prev, flow)  # (K, H, W) in the current frame's coordinates
            out = (self.alpha * probs + (1.0 - self.alpha) * prev).astype(np.float32)
        self._probs, self._frame = out, frame
        return out

    def __call__(self, result):
        """A ``SegmentationResult`` with smoothed ``probs`` and their argmax as ``mask``."""
        probs = self.smooth(result.image, result.probs)
        return dataclasses.replace(result, probs=probs, mask=probs.argmax(0).astype(np.int64))


def label_change_rate(labels: Sequence[np.ndarray], frames: Sequence[np.ndarray],
                      ignore_index: int | None = None) -> float:
    """Share of pixels whose label changes between consecutive frames after flow compensation.

    Labels of frame t-1 are warped into frame t (nearest neighbour, backward DIS flow of the
    frames); pixels whose flow leaves the image, or labelled ``ignore_index`` in either frame,
    are not counted. Pooled over all consecutive pairs.
    """
    if len(labels) != len(frames) or len(labels) < 2:
        raise ValueError("need as many frames as label maps, and at least two")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    changed = counted = 0
    for t in range(1, len(labels)):
        flow = backward_flow(frames[t], frames[t - 1], dis)
        warped = warp(labels[t - 1].astype(np.int32), flow, nearest=True, fill=-1)  # (H, W)
        valid = warped >= 0
        if ignore_index is not None:
            valid &= (warped != ignore_index) & (labels[t] != ignore_index)
        changed += int((warped[valid] != labels[t][valid]).sum())
        counted += int(valid.sum())
    return changed / counted if counted else float("nan")
