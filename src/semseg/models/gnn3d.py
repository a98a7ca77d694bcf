"""3DGNN head (Qi, Liao, Jia, Fidler, Urtasun, "3D Graph Neural Networks for RGBD Semantic
Segmentation", ICCV 2017) on top of any registered model.

The pixels of a coarse map (input / ``stride``) are back-projected to 3D with the depth channel
and the camera focal lengths (semseg.data.geometry), joined to their ``k`` nearest neighbours in 3D,
and a recurrent GNN runs ``steps`` times: message ``m_v = mean_{u in N(v)} MLP(h_u)``, update
``h_v = GRU(h_v, m_v)``. A classifier on ``[h_0; h_T]`` gives a correction that is upsampled and
added to the unary network's logits. Differences from the paper, on purpose:

- the unary features are the wrapped model's logits (any registered model works, no hook into its
  internals), embedded to ``hidden`` channels; the head's output is a residual on those logits,
  so ``steps=0`` returns the unary network's output exactly;
- the principal point is the centre of the network input (crops and pads move it anyway); the
  focal lengths default to NYUv2's depth camera;
- without a depth channel (``in_channels`` 1 or 3) every pixel gets depth 1 m: the graph is then
  the k-nearest-pixel graph of the image plane.

kNN runs in blocks of queries x references with a running top-k, so memory is O(N k) plus one
block, never N x N. It exports to ONNX (TopK, GatherElements) at a fixed input size.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.geometry import NYU_DEPTH, Intrinsics, backproject_torch
from semseg.errors import ModelError
from semseg.models.registry import create_model, register_model

# Channel 3 of semseg's RGB-D input is normalized depth: (metres / 10 - mean) / std, with
# NYUv2's statistics (semseg.data.nyuv2.DEPTH_MEAN_M, DEPTH_STD_M) as the default.
DEPTH_MEAN, DEPTH_STD = 0.2842, 0.1417


@torch.no_grad()
def knn_indices(points: torch.Tensor, k: int, chunk: int = 512,
                ref_chunk: int = 4096) -> torch.Tensor:
    """(B, N, 3) points -> (B, N, k) indices of each point's k nearest (itself included),
    nearest first; blocks of ``chunk`` queries x ``ref_chunk`` references with a running top-k,
    so no N x N matrix is ever built (memory O(N k + chunk ref_chunk))."""
    b, n, _ = points.shape
    k = min(k, n)
    out = []
    for q0 in range(0, n, chunk):
        q = points[:, q0:q0 + chunk]  # (B, cq, 3)
        qq = (q * q).sum(-1, keepdim=True)  # (B, cq, 1)
        best_d = q.new_full((b, q.shape[1], k), math.inf)  # (B, cq, k)
        best_i = torch.zeros(b, q.shape[1], k, dtype=torch.long, device=points.device)
        for r0 in range(0, n, ref_chunk):
            r = points[:, r0:r0 + ref_chunk]  # (B, cr, 3)
            rr = (r * r).sum(-1)[:, None]  # (B, 1, cr)
            d = torch.baddbmm(qq + rr, q, r.transpose(1, 2), alpha=-2.0)  # (B, cq, cr) squared
            ids = torch.arange(r0, r0 + r.shape[1], device=points.device).expand_as(d)
            cand_d, cand_i = torch.cat([best_d, d], 2), torch.cat([best_i, ids], 2)
            best_d, pick = cand_d.topk(k, dim=2, largest=False, sorted=True)
            best_i = cand_i.gather(2, pick)
        out.append(best_i)
    return torch.cat(out, 1)


def neighbour_mean(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mean of (B, N, D) node features over each node's neighbours (B, N, k) -> (B, N, D)."""
    b, n, k = idx.shape
    if torch.onnx.is_in_onnx_export():  # GatherElements; builds the (B, N*k, D) tensor
        flat = idx.reshape(b, n * k, 1).expand(-1, -1, h.shape[2])  # (B, N*k, D)
        return h.gather(1, flat).reshape(b, n, k, h.shape[2]).mean(2)
    offsets = torch.arange(b, device=idx.device)[:, None, None] * n  # rows of the flat batch
    out = F.embedding_bag((idx + offsets).reshape(b * n, k), h.reshape(b * n, -1), mode="mean")
    return out.reshape(b, n, -1)  # 3-4x faster than the gather on CPU, no (N, k, D) tensor


class GRUUpdate(nn.Module):
    """h <- GRU(h, m), written out with linear layers (exports to plain ONNX ops)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gates = nn.Linear(2 * dim, 2 * dim)
        self.candidate = nn.Linear(2 * dim, dim)

    def forward(self, h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(self.gates(torch.cat([h, m], -1))).chunk(2, -1)
        n = torch.tanh(self.candidate(torch.cat([r * h, m], -1)))
        return (1 - z) * h + z * n


class GraphHead3D(nn.Module):
    """A registered model whose logits are refined by T steps of a 3D k-NN graph network."""

    def __init__(self, base: nn.Module, num_classes: int, depth_channel: int | None,
                 hidden: int = 64, k: int = 64, steps: int = 3, stride: int = 8,
                 chunk: int = 512, fx: float = NYU_DEPTH.fx, fy: float = NYU_DEPTH.fy,
                 depth_mean: float = DEPTH_MEAN, depth_std: float = DEPTH_STD):
        super().__init__()
        self.base = base
        self.depth_channel, self.k, self.steps = depth_channel, k, steps
        self.stride, self.chunk, self.fx, self.fy = stride, chunk, fx, fy
        self.depth_mean, self.depth_std = depth_mean, depth_std
        self.embed = nn.Linear(num_classes, hidden)
        self.message = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.update = GRUUpdate(hidden)
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def load_pretrained_backbone(self) -> None:
        """ImageNet weights into the wrapped model's encoder, where it has them."""
        if hasattr(self.base, "load_pretrained_backbone"):
            self.base.load_pretrained_backbone()

    def points(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, h*w, 3) camera points of the coarse map's pixels."""
        (h, w), (ih, iw) = size, x.shape[-2:]
        if self.depth_channel is None:
            depth = x.new_ones(x.shape[0], h, w)
        else:
            d = x[:, self.depth_channel:self.depth_channel + 1]  # (B, 1, H, W) normalized
            d = (d * self.depth_std + self.depth_mean) * 10.0  # metres
            depth = F.interpolate(d, size=size, mode="bilinear", align_corners=False)[:, 0]
        sy, sx = ih / h, iw / w
        cam = Intrinsics(self.fx, self.fy, (iw - 1) / 2, (ih - 1) / 2)
        return backproject_torch(depth, cam, (sy, sx)).reshape(x.shape[0], h * w, 3)

    def refine(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Unary logits (B, K, H, W) plus the graph network's correction."""
        if self.steps == 0:
            return logits
        ih, iw = logits.shape[-2:]
        size = (max(1, math.ceil(ih / self.stride)), max(1, math.ceil(iw / self.stride)))
        coarse = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        h0 = self.embed(coarse.flatten(2).transpose(1, 2))  # (B, N, D)
        idx = knn_indices(self.points(x, size), self.k, self.chunk)  # (B, N, k)
        h = h0
        for _ in range(self.steps):
            h = self.update(h, neighbour_mean(self.message(h), idx))
        delta = self.classifier(torch.cat([h0, h], -1))  # (B, N, K)
        delta = delta.transpose(1, 2).reshape(logits.shape[0], -1, *size)  # (B, K, h, w)
        return logits + F.interpolate(delta, size=(ih, iw), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.refine(x, self.base(x))


class GraphHead3DAux(GraphHead3D):
    """``GraphHead3D`` over a model with auxiliary training heads (PSPNet, ICNet, ...)."""

    @property
    def aux_weights(self) -> dict[str, float]:
        return self.base.aux_weights

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, aux = self.base.forward_with_aux(x)
        return self.refine(x, logits), aux


def default_depth_channel(in_channels: int) -> int | None:
    """The depth channel of semseg's RGB-D inputs: the last of 2 or 4 channels, else none."""
    return in_channels - 1 if in_channels in (2, 4) else None


@register_model(
    "gnn3d",
    paper="Qi et al., 3D Graph Neural Networks for RGBD Semantic Segmentation, ICCV 2017",
    note="head over any registered model (base=...); semseg's residual variant",
)
def gnn3d(num_classes: int, in_channels: int = 3, base: str = "litefpn",
          base_kwargs: dict[str, Any] | None = None, depth_channel: int | None = -1,
          **head_kwargs: Any) -> GraphHead3D:
    """``base`` (any registered model) + the 3DGNN head; ``depth_channel=-1`` picks the default
    (:func:`default_depth_channel`), ``None`` builds the graph on the image plane."""
    if base == "gnn3d":
        raise ModelError("gnn3d cannot wrap itself; choose another base model")
    if depth_channel == -1:
        depth_channel = default_depth_channel(in_channels)
    elif depth_channel is not None and not 0 <= depth_channel < in_channels:
        raise ModelError(f"depth_channel {depth_channel} outside the {in_channels} input channels")
    model = create_model(base, num_classes, in_channels, **(base_kwargs or {}))
    cls = GraphHead3DAux if hasattr(model, "forward_with_aux") else GraphHead3D
    return cls(model, num_classes, depth_channel, **head_kwargs)
