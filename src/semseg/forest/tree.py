"""Decision trees whose split nodes threshold a sparse filter over an image stack.

Every split node holds up to ``T`` taps ``(channel, dy, dx, weight)`` and a threshold; a pixel
``p`` of image ``n`` goes left when ``sum_k w_k * X[n, c_k, p + (dy_k, dx_k)] < threshold``.
Unused taps have weight 0. This one representation covers

- the learned-representation forest (Kang & Nguyen 2019): weights, offsets and the number of
  taps are optimised at every node (``semseg.forest.learned``);
- the Shotton-style pixel-pair forest: one or two taps with weights +-1 drawn at random
  (``semseg.forest.pixelpair``);
- a head on CNN features: taps at offset 0 over feature channels (oblique splits).

Training is node by node (breadth first) over pixel samples; each node asks a ``propose``
function for its best filter, scored by weighted information gain over every threshold at once
(sort + cumulative class histograms, fully vectorised).

Example:
    >>> gain, thr = best_thresholds(responses, labels, weights, num_classes)  # (F,), (F,)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A split proposer: (samples of a node, random generator) -> (taps (T, 4) float64, threshold,
# gain); taps rows are (channel, dy, dx, weight). Gain <= 0 makes the node a leaf.
Proposer = Callable[["Samples", np.random.Generator], tuple[np.ndarray, float, float]]


@dataclass
class Samples:
    """Training pixels: image index, row, column (in the padded stack), class and weight."""

    stack: np.ndarray  # (N, C, H + 2R, W + 2R) float32, edge-padded by R
    n: np.ndarray  # (S,) int64
    r: np.ndarray  # (S,) int64, already shifted by R
    c: np.ndarray  # (S,) int64
    y: np.ndarray  # (S,) int64 class ids
    w: np.ndarray  # (S,) float64 sample weights (class balancing)
    num_classes: int

    def subset(self, idx: np.ndarray) -> Samples:
        """The samples at ``idx`` (same stack)."""
        return Samples(self.stack, self.n[idx], self.r[idx], self.c[idx], self.y[idx],
                       self.w[idx], self.num_classes)

    def taps(self, ch: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Values of taps with (..., ) channel/offset arrays at every sample: (..., S)."""
        return self.stack[self.n, ch[..., None], self.r + dy[..., None], self.c + dx[..., None]]


def entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of class histograms along the last axis; empty -> 0."""
    total = counts.sum(-1, keepdims=True)
    p = counts / np.maximum(total, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    return h


def information_gain(parent: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Gain H(parent) - |L|/|P| H(L) - |R|/|P| H(R) for class histograms (..., K)."""
    right = parent - left
    n = parent.sum(-1)
    nl, nr = left.sum(-1), right.sum(-1)
    return entropy(parent) - (nl * entropy(left) + nr * entropy(right)) / np.maximum(n, 1e-12)


def best_thresholds(
    responses: np.ndarray, y: np.ndarray, w: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``responses`` (F, S), the best gain over all thresholds and that threshold.

    Thresholds lie midway between consecutive distinct sorted responses; a row with one distinct
    value gets gain -inf.
    """
    if responses.shape[1] < 2:
        return np.full(len(responses), -np.inf), responses[:, 0].astype(np.float64)
    order = np.argsort(responses, axis=1, kind="stable")  # (F, S)
    v = np.take_along_axis(responses, order, axis=1)
    onehot = np.zeros((*order.shape, num_classes))  # (F, S, K)
    np.put_along_axis(onehot, y[order][..., None], w[order][..., None], axis=2)
    left = np.cumsum(onehot, axis=1)[:, :-1]  # (F, S-1, K): samples 0..i go left
    parent = left[:, -1] + onehot[:, -1]  # (F, K)
    gain = information_gain(parent[:, None, :], left)  # (F, S-1)
    gain = np.where(v[:, 1:] > v[:, :-1], gain, -np.inf)  # split only between distinct values
    best = gain.argmax(1)
    rows = np.arange(len(best))
    return gain[rows, best], 0.5 * (v[rows, best] + v[rows, best + 1])


def filter_responses(samples: Samples, taps: np.ndarray) -> np.ndarray:
    """Responses of F filters (F, T, 4) at every sample: (F, S)."""
    ch, dy, dx = (taps[..., i].astype(np.int64) for i in range(3))
    return np.einsum("fts,ft->fs", samples.taps(ch, dy, dx), taps[..., 3])


@dataclass
class Tree:
    """A trained tree as flat arrays (node 0 is the root; ``left == -1`` marks a leaf)."""

    taps: np.ndarray  # (M, T, 4) float32: channel, dy, dx, weight
    threshold: np.ndarray  # (M,) float32
    left: np.ndarray  # (M,) int32 child index or -1
    right: np.ndarray  # (M,) int32
    hist: np.ndarray  # (M, K) float32 class posterior at leaves (internal nodes: their mix)

    @property
    def depth(self) -> int:
        """Longest root-to-leaf path (a single leaf has depth 0)."""
        depth = np.zeros(len(self.left), dtype=np.int64)
        for i in range(len(self.left)):  # children always come after their parent
            if self.left[i] >= 0:
                depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
        return int(depth.max())


def _posterior(samples: Samples) -> np.ndarray:
    hist = np.bincount(samples.y, weights=samples.w, minlength=samples.num_classes)
    return (hist / max(hist.sum(), 1e-12)).astype(np.float32)


def grow_tree(
    samples: Samples,
    propose: Proposer,
    rng: np.random.Generator,
    max_depth: int = 12,
    min_samples: int = 20,
    max_eval: int = 2000,
    max_taps: int = 2,
) -> Tree:
    """Grow one tree breadth first; a node splits on ``propose``'s filter (evaluated on at most
    ``max_eval`` of its samples) unless it is pure, too small, too deep or the gain is <= 0."""
    taps, thr, left, right, hist = [], [], [], [], []
    queue = [(np.arange(len(samples.y)), 0)]  # (sample indices, depth); index = node id
    while len(hist) < len(queue):
        idx, depth = queue[len(hist)]
        node = samples.subset(idx)
        hist.append(_posterior(node))
        taps.append(np.zeros((max_taps, 4)))
        thr.append(0.0)
        left.append(-1)
        right.append(-1)
        if depth >= max_depth or len(idx) < min_samples or np.all(node.y == node.y[0]):
            continue
        pick = idx if len(idx) <= max_eval else rng.choice(idx, max_eval, replace=False)
        node_taps, t, gain = propose(samples.subset(pick), rng)
        if not gain > 1e-9:
            continue
        go_left = filter_responses(node, node_taps[None])[0] < t
        if go_left.all() or not go_left.any():
            continue
        taps[-1][: len(node_taps)] = node_taps
        thr[-1] = t
        me = len(hist) - 1
        left[me], right[me] = len(queue), len(queue) + 1
        queue += [(idx[go_left], depth + 1), (idx[~go_left], depth + 1)]
    return Tree(np.asarray(taps, dtype=np.float32), np.asarray(thr, dtype=np.float32),
                np.asarray(left, dtype=np.int32), np.asarray(right, dtype=np.int32),
                np.stack(hist))


def tree_leaves(tree: Tree, stack: np.ndarray, radius: int) -> np.ndarray:
    """Leaf index of every pixel of one padded image stack (C, H + 2R, W + 2R): (H * W,)."""
    _, hp, wp = stack.shape
    h, w = hp - 2 * radius, wp - 2 * radius
    rows, cols = np.divmod(np.arange(h * w), w)
    rows, cols = rows + radius, cols + radius
    node = np.zeros(h * w, dtype=np.int64)
    active = np.flatnonzero(tree.left[node] >= 0)
    ch, dy, dx = (tree.taps[..., i].astype(np.int64) for i in range(3))
    weight = tree.taps[..., 3]
    while active.size:
        nd = node[active]
        vals = stack[ch[nd], rows[active, None] + dy[nd], cols[active, None] + dx[nd]]  # (A, T)
        go_left = (vals * weight[nd]).sum(1) < tree.threshold[nd]
        node[active] = np.where(go_left, tree.left[nd], tree.right[nd])
        active = active[tree.left[node[active]] >= 0]
    return node
