"""PCAMs stage 2 (McEver & Manjunath 2020): point CAMs -> learned affinities -> random walk ->
pseudo-label masks.

Stage 1 is ``semseg train --supervision points --point-loss pcam`` (any architecture whose final
layer is a 1x1 ``classifier`` conv; its logits before upsampling are the CAMs and its input the
features); stage 3 is ``semseg train --train-masks PSEUDO_DIR``. This module is stage 2, which the
paper builds on AffinityNet (Ahn & Kwak, CVPR 2018). Our choices where the paper leaves room:

- CAM scores: softmax of the stage-1 CAM logits over the classes clicked in the image (CamVid has
  no background class, so none of AffinityNet's background thresholding);
- affinity network: a 1x1 conv embedding (``embed_dim``) of the frozen stage-1 features, trained
  with AffinityNet's loss, ``a_ij = exp(-mean |e_i - e_j|)``: ``-log a_ij`` for pairs within
  ``radius`` whose confident labels agree, ``-log(1 - a_ij)`` for pairs that disagree (positive
  and negative pairs weighted 1/2 each); confident = CAM score >= ``conf`` or a click;
- random walk: transition weights ``a_ij ** beta`` over the (2 radius + 1)^2 neighbourhood,
  normalised per pixel, applied ``iters`` times to the CAM scores; clicked pixels keep their class.

Example:
    >>> report = make_pseudo_labels("runs/pcam1/best.pt", train_ds, "pseudo/", AffinityParams())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from semseg.errors import ModelError
from semseg.points.clicks import Click


@dataclass
class AffinityParams:
    """Stage-2 knobs (AffinityNet defaults are radius 5, beta 8; iterations are ours)."""

    radius: int = 4  # neighbourhood, in CAM pixels (stride 4 for LiteFPN)
    beta: float = 8.0  # sharpening of affinities in the random walk
    iters: int = 30  # random-walk steps
    conf: float = 0.8  # CAM score for a pixel to count as a confident label
    embed_dim: int = 32
    steps: int = 300  # affinity training steps (Adam)
    lr: float = 1e-2
    seed: int = 0


def offsets(radius: int) -> np.ndarray:
    """All (dy, dx) with |dy|, |dx| <= radius, (0, 0) first: (O, 2)."""
    r = np.arange(-radius, radius + 1)
    grid = np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)
    return np.concatenate([[[0, 0]], grid[np.abs(grid).sum(1) > 0]])


def _shift(x: torch.Tensor, dy: int, dx: int, radius: int) -> torch.Tensor:
    """x (..., h, w) padded by ``radius`` -> its values at (p + (dy, dx)) for each p."""
    h, w = x.shape[-2] - 2 * radius, x.shape[-1] - 2 * radius
    return x[..., radius + dy: radius + dy + h, radius + dx: radius + dx + w]


def pair_affinity(embed: torch.Tensor, radius: int) -> torch.Tensor:
    """a(p, p + o) = exp(-mean_e |e_p - e_{p+o}|) for every offset: (E, h, w) -> (O, h, w); 0
    where p + o leaves the image."""
    e = nn.functional.pad(embed, (radius,) * 4)
    inside = nn.functional.pad(torch.ones_like(embed[:1]), (radius,) * 4)
    out = []
    for dy, dx in offsets(radius):
        diff = (embed - _shift(e, dy, dx, radius)).abs().mean(0)
        out.append(torch.exp(-diff) * _shift(inside, dy, dx, radius)[0])
    return torch.stack(out)


def random_walk(scores: np.ndarray, affinity: np.ndarray, radius: int, beta: float,
                iters: int) -> np.ndarray:
    """Propagate (K, h, w) scores along (O, h, w) affinities (``offsets(radius)`` order)."""
    weight = torch.from_numpy(affinity).float() ** beta
    weight = weight / weight.sum(0, keepdim=True).clamp(min=1e-30)  # (O, h, w)
    x = torch.from_numpy(scores).float()
    for _ in range(iters):
        padded = nn.functional.pad(x, (radius,) * 4)
        x = sum(weight[i] * _shift(padded, dy, dx, radius)
                for i, (dy, dx) in enumerate(offsets(radius)))
    return x.numpy()


def affinity_loss(embed: torch.Tensor, labels: torch.Tensor, radius: int) -> torch.Tensor:
    """AffinityNet loss over every pair within ``radius``: embed (N, E, h, w), labels (N, h, w)
    with -1 = not confident."""
    e = nn.functional.pad(embed, (radius,) * 4)
    lab = nn.functional.pad(labels, (radius,) * 4, value=-1)
    pos_sum = neg_sum = embed.new_zeros(())
    pos_n = neg_n = 0
    for dy, dx in offsets(radius)[1:]:
        other = _shift(lab, dy, dx, radius)
        both = (labels >= 0) & (other >= 0)
        same, diff = both & (labels == other), both & (labels != other)
        dist = (embed - _shift(e, dy, dx, radius)).abs().mean(1)  # (N, h, w) = -log a
        pos_sum = pos_sum + dist[same].sum()
        neg_sum = neg_sum - torch.log((-torch.expm1(-dist[diff])).clamp(min=1e-6)).sum()
        pos_n, neg_n = pos_n + int(same.sum()), neg_n + int(diff.sum())
    return 0.5 * pos_sum / max(pos_n, 1) + 0.5 * neg_sum / max(neg_n, 1)


def train_affinity(features: list[np.ndarray], labels: list[np.ndarray],
                   params: AffinityParams) -> nn.Conv2d:
    """A 1x1 conv embedding of (D, h, w) features trained with ``affinity_loss``."""
    gen = torch.Generator().manual_seed(params.seed)
    torch.manual_seed(params.seed)
    head = nn.Conv2d(features[0].shape[0], params.embed_dim, 1)
    opt = torch.optim.Adam(head.parameters(), lr=params.lr)
    for _ in range(params.steps):
        pick = torch.randint(len(features), (min(4, len(features)),), generator=gen).tolist()
        x = torch.stack([torch.from_numpy(features[i].astype(np.float32)) for i in pick])
        y = torch.stack([torch.from_numpy(labels[i]) for i in pick])
        loss = affinity_loss(head(x), y, params.radius)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


class CamModel:
    """A stage-1 network: CAM logits (its 1x1 classifier's output) and that layer's input."""

    def __init__(self, model: str) -> None:
        from semseg.inference.segmenter import Segmenter

        self.segmenter = Segmenter.from_pretrained(model)
        self.head = getattr(self.segmenter.model, "classifier", None)
        if not isinstance(self.head, nn.Conv2d):
            raise ModelError(f"{model}: PCAMs needs a model whose final layer is a Conv2d named "
                             "'classifier' (e.g. litefpn)")

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, h, w) CAM logits and (D, h, w) features of an RGB uint8 image."""
        from semseg.data.transforms import normalize_image

        seen = []
        hook = self.head.register_forward_hook(lambda m, i, o: seen.append((o[0], i[0][0])))
        try:
            self.segmenter.model.eval()(normalize_image(image, self.segmenter.info)[None])
        finally:
            hook.remove()
        cam, feats = seen[0]
        return cam.float().numpy(), feats.float().numpy()


def present_scores(cam: np.ndarray, present: list[int]) -> np.ndarray:
    """Softmax of CAM logits over the present classes; absent classes score 0: (K, h, w)."""
    out = np.zeros_like(cam)
    sub = cam[present] - cam[present].max(0, keepdims=True)
    e = np.exp(sub)
    out[present] = e / e.sum(0, keepdims=True)
    return out


def _click_cells(clicks: list[Click], full: tuple[int, int], small: tuple[int, int]):
    for c in clicks:
        yield min(c.y * small[0] // full[0], small[0] - 1), \
            min(c.x * small[1] // full[1], small[1] - 1), c.cls


def confident_labels(scores: np.ndarray, clicks: list[Click], full: tuple[int, int],
                     conf: float) -> np.ndarray:
    """(h, w) int64: the CAM class where its score >= conf or at a click, else -1."""
    labels = np.where(scores.max(0) >= conf, scores.argmax(0), -1)
    for y, x, c in _click_cells(clicks, full, scores.shape[1:]):
        labels[y, x] = c
    return labels.astype(np.int64)


def pseudo_mask(scores: np.ndarray, affinity: np.ndarray, clicks: list[Click],
                full: tuple[int, int], params: AffinityParams) -> np.ndarray:
    """Random-walk the CAM scores, upsample to the image, argmax, clicks kept: (H, W) uint8."""
    small = scores.copy()
    for y, x, c in _click_cells(clicks, full, scores.shape[1:]):  # clicks are certain seeds
        small[:, y, x] = 0.0
        small[c, y, x] = 1.0
    walked = random_walk(small, affinity, params.radius, params.beta, params.iters)
    big = cv2.resize(walked.transpose(1, 2, 0), full[::-1], interpolation=cv2.INTER_LINEAR)
    mask = big.reshape(*full, -1).argmax(-1).astype(np.uint8)
    for c in clicks:
        mask[c.y, c.x] = c.cls
    return mask


def make_pseudo_labels(cam_model: str, points_ds, out_dir: str | Path, params: AffinityParams,
                       limit: int | None = None,
                       progress: Callable[[str], None] = lambda m: None) -> dict[str, float]:
    """Write ``<stem>.png`` pseudo-labels for the first ``limit`` images of a ``PointDataset``."""
    from semseg.fileio.images import save_image

    model = CamModel(cam_model)
    n = min(limit or len(points_ds), len(points_ds))
    cams, feats, clicks, sizes = [], [], [], []
    for i in range(n):
        image, mask = points_ds.base.load(i)
        cam, f = model(image)
        cl = points_ds.clicks(i, mask)
        cams.append(present_scores(cam, sorted({c.cls for c in cl})))
        feats.append(f.astype(np.float16))
        clicks.append(cl)
        sizes.append(mask.shape)
    progress(f"CAMs of {n} images")
    labels = [confident_labels(s, c, z, params.conf) for s, c, z in zip(cams, clicks, sizes,
                                                                        strict=True)]
    head = train_affinity(feats, labels, params)
    progress(f"affinity trained ({params.steps} steps)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    confident = np.mean([np.mean(lab >= 0) for lab in labels])
    for i in range(n):
        with torch.inference_mode():
            aff = pair_affinity(head(torch.from_numpy(feats[i].astype(np.float32))[None])[0],
                                params.radius).numpy()
        mask = pseudo_mask(cams[i], aff, clicks[i], sizes[i], params)
        save_image(out / f"{points_ds.samples[i].image.stem}.png", mask)
    return {"images": n, "confident_fraction": float(confident)}
