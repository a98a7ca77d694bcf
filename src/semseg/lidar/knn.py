"""KNN post-processing of RangeNet++ (Milioto et al., IROS 2019), used by SalsaNext: a label for
every point, including points hidden behind a closer one in the range image.

For each point, the 5 x 5 window around its pixel is searched; each neighbour's distance is the
absolute range difference |r_neighbour - r_point| times (1 - G), G the normalised 5 x 5 Gaussian
(sigma 1) centred on the pixel, so near pixels count less as "far". The centre pixel stands for
the point itself (distance 0). The k = 5 nearest vote for their predicted class; neighbours
farther than the cutoff (1 m) or empty pixels do not vote.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from semseg.errors import ConfigError


def inverse_gaussian(search: int, sigma: float) -> torch.Tensor:
    """(search * search,) weights 1 - G, G the normalised Gaussian window, row-major."""
    coords = torch.arange(search, dtype=torch.float64) - (search - 1) / 2
    d2 = coords[:, None] ** 2 + coords[None, :] ** 2  # (S, S)
    g = torch.exp(-d2 / (2 * sigma**2))
    return (1 - g / g.sum()).flatten()


def knn_labels(range_image: np.ndarray, pixel_labels: np.ndarray, u: np.ndarray, v: np.ndarray,
               point_range: np.ndarray, num_classes: int, k: int = 5, search: int = 5,
               sigma: float = 1.0, cutoff: float = 1.0) -> np.ndarray:
    """(N,) labels by majority vote of the k range-nearest pixels in a search window.

    ``range_image`` (H, W) holds metres (negative where empty), ``pixel_labels`` (H, W) the
    predicted class ids 0..num_classes-1; ``u``, ``v``, ``point_range`` are per point.
    """
    if search % 2 == 0 or search < 1:
        raise ConfigError(f"KNN search window {search}: expected an odd size")
    if not 1 <= k <= search * search:
        raise ConfigError(f"KNN k={k}: expected 1..{search * search}")
    w = range_image.shape[1]
    pad = search // 2
    rng = torch.as_tensor(range_image, dtype=torch.float32)
    rng = torch.where(rng < 0, torch.full_like(rng, float("inf")), rng)  # empty: never near
    # Padding is "infinitely far" too, so border points only see real pixels.
    windows = F.pad(rng[None, None], (pad, pad, pad, pad), value=float("inf"))
    windows = F.unfold(windows, search)[0]  # (S*S, H*W)
    labels = F.pad(torch.as_tensor(pixel_labels, dtype=torch.float32)[None, None],
                   (pad, pad, pad, pad), value=0)
    labels = F.unfold(labels, search)[0].long()  # (S*S, H*W)
    idx = torch.as_tensor(v * w + u, dtype=torch.long)
    pr = torch.as_tensor(point_range, dtype=torch.float32)
    near = windows[:, idx]  # (S*S, N) ranges around each point
    near[(search * search) // 2] = pr  # the centre stands for the point itself
    dist = (near - pr).abs() * inverse_gaussian(search, sigma).float()[:, None]
    dist = torch.nan_to_num(dist, nan=float("inf"))  # inf * 0 never happens, but stay safe
    knn_dist, knn_idx = dist.topk(k, dim=0, largest=False)  # (k, N)
    votes = labels[:, idx].gather(0, knn_idx)  # (k, N)
    votes[knn_dist > cutoff] = num_classes  # an extra bin that cannot win
    counts = torch.zeros(num_classes + 1, len(idx), dtype=torch.long)
    counts.scatter_add_(0, votes, torch.ones_like(votes))
    return counts[:num_classes].argmax(dim=0).numpy()
