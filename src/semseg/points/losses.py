"""Losses for training from clicks (targets encoded by ``semseg.points.data``).

``PointLoss`` is Bearman et al., "What's the Point" (ECCV 2016), eq. 1-4, for per-pixel softmax
S (N, K, H, W), clicked pixels I_s with classes G_i, present classes L, absent classes L':

- point term: ``-mean_{i in I_s} log S_{i,G_i}`` (partial cross-entropy on clicks);
- present-class term: ``-1/|L| sum_{c in L} log S_{t_c,c}``, t_c = argmax_i S_{i,c};
- absent-class term: ``-1/|L'| sum_{c in L'} log(1 - S_{t_c,c})``;
- optional objectness term: ``-mean_i [P_i log sum_{k in O} S_{i,k} + (1 - P_i) log(1 - ...)]``
  for a per-pixel objectness prior P and object classes O.

The image-level terms are averaged over the images of the batch; pixels marked ignore never
count. Choices where the paper leaves room: the point term is a mean over all clicks of the batch
(Caffe's normalised loss), and all weights default to 1 (the paper's sum). Bearman et al. train
on whole images; with random crops a class clicked elsewhere in the image may be outside the
crop, so L = classes clicked *inside the crop* and L' = classes absent from the *whole image*
(the others are unknown and get no image-level term); on whole images this is the paper's loss.

``PointCamLoss`` is stage 1 of PCAMs (McEver & Manjunath 2020): the network's per-pixel logits
serve as class activation maps; a multi-label soft-margin loss on their global average (image-level
labels from the clicks; the same known/unknown rule under crops) plus cross-entropy of the CAM
logits at the clicked pixels.

Example:
    >>> loss = PointLoss(num_classes=11)(logits, target)     # (N, K, H, W), (N, H, W)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.info import IGNORE_INDEX
from semseg.errors import ConfigError
from semseg.points.data import clicked_classes, decode_targets

POINT_LOSSES = ("bearman", "pcam")


def _point_term(logp: torch.Tensor, target: torch.Tensor, clicked: torch.Tensor) -> torch.Tensor:
    if not clicked.any():
        return logp.sum() * 0.0
    return F.nll_loss(logp, torch.where(clicked, target, -100), ignore_index=-100)


class PointLoss(nn.Module):
    """Bearman et al. 2016: clicks + present/absent image-level terms (+ objectness prior)."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, point: float = 1.0,
                 present: float = 1.0, absent: float = 1.0, objectness: float = 1.0,
                 object_classes: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.weights = (point, present, absent, objectness)
        self.object_classes = tuple(object_classes)

    def terms(self, logits: torch.Tensor, target: torch.Tensor,
              objectness: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each term separately (unweighted)."""
        logp = logits.float().log_softmax(1)  # (N, K, H, W)
        clicked, present = decode_targets(target, self.num_classes)
        valid = target != self.ignore_index  # (N, H, W)
        out = {"point": _point_term(logp, target, clicked)}
        best = logp.masked_fill(~valid[:, None], -torch.inf).flatten(2).amax(2)  # (N, K)
        best = best.clamp(min=-80.0)  # an image without valid pixels adds nothing below
        has = valid.flatten(1).any(1)
        pres = clicked_classes(target, self.num_classes) & has[:, None]
        absn = ~present & has[:, None]
        log_not = torch.log1p(-best.exp().clamp(max=1 - 1e-6))  # log(1 - S_{t_c,c})
        out["present"] = (-(best * pres).sum(1) / pres.sum(1).clamp(min=1)).mean()
        out["absent"] = (-(log_not * absn).sum(1) / absn.sum(1).clamp(min=1)).mean()
        if objectness is not None and self.object_classes:
            obj = torch.zeros(self.num_classes, dtype=torch.bool, device=logits.device)
            obj[list(self.object_classes)] = True
            log_obj = logp[:, obj].logsumexp(1)  # (N, H, W) log sum_{k in O} S
            log_bg = logp[:, ~obj].logsumexp(1)  # log(1 - sum_{k in O} S)
            nll = -(objectness * log_obj + (1 - objectness) * log_bg)
            out["objectness"] = nll[valid].mean() if valid.any() else nll.sum() * 0.0
        return out

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                objectness: torch.Tensor | None = None) -> torch.Tensor:
        t = self.terms(logits, target, objectness)
        w = dict(zip(("point", "present", "absent", "objectness"), self.weights, strict=True))
        return sum(w[name] * value for name, value in t.items())


class PointCamLoss(nn.Module):
    """PCAMs stage 1: multi-label soft margin on GAP(CAM logits) + CE of the CAMs at clicks."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 point: float = 1.0) -> None:
        super().__init__()
        self.num_classes, self.ignore_index, self.point = num_classes, ignore_index, point

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        clicked, present = decode_targets(target, self.num_classes)
        valid = (target != self.ignore_index)[:, None].float()  # (N, 1, H, W)
        gap = (logits * valid).sum((2, 3)) / valid.sum((2, 3)).clamp(min=1)  # (N, K)
        here = clicked_classes(target, self.num_classes)
        known = (here | ~present).float()  # clicked in the crop, or absent from the image
        bce = F.binary_cross_entropy_with_logits(gap, here.float(), reduction="none")
        image = ((bce * known).sum(1) / known.sum(1).clamp(min=1)).mean()
        return image + self.point * _point_term(logits.log_softmax(1), target, clicked)


def point_criterion(name: str, num_classes: int, ignore_index: int = IGNORE_INDEX) -> nn.Module:
    """The loss for ``TrainConfig.point_loss``."""
    if name == "bearman":
        return PointLoss(num_classes, ignore_index)
    if name == "pcam":
        return PointCamLoss(num_classes, ignore_index)
    raise ConfigError(f"unknown point loss {name!r}; choose from {', '.join(POINT_LOSSES)}")
