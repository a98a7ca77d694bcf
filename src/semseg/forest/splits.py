"""Split proposers: random pixel pairs (Shotton et al.) and learned sparse filters (Kang & Nguyen).

Both return ``(taps (T, 4), threshold, gain)`` for the samples of one node; see
``semseg.forest.tree`` for the tap layout.

Learned filters (our reading of Kang & Nguyen, IEEE TIP 2019; the paper's body was not
available, only its abstract): a node starts from the best of ``candidates`` random sparse
filters (1..T taps, random channels and offsets, Gaussian weights), then for ``refine_iters``
rounds (a) refits the weights for the current taps by a ridge Fisher discriminant between the two
groups of classes the current split separates, and (b) tries ``moves`` changes of shape or
sparsity (move one tap, add one, drop one; each followed by the weight refit), keeping the best
by ``gain - sparsity_cost * taps``. Weights, shapes (offsets) and sparsity are all learned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from semseg.forest.tree import Proposer, Samples, best_thresholds, filter_responses

PAIR_WEIGHTS = np.array([[1.0, 0.0], [1.0, -1.0], [1.0, 1.0]])  # single, difference, sum


def random_taps(rng: np.random.Generator, count: int, channels: int, radius: int,
                shape: Sequence[int]) -> np.ndarray:
    """``count`` random taps (..., 3): channel, dy, dx with offsets in [-radius, radius]."""
    ch = rng.integers(0, channels, (*shape, count))
    off = rng.integers(-radius, radius + 1, (*shape, count, 2))
    return np.concatenate([ch[..., None], off], axis=-1).astype(np.float64)


def pixel_pair_proposer(channels: int, radius: int, candidates: int = 100) -> Proposer:
    """Shotton-style features: I_c1(x + o1) [+-] I_c2(x + o2) with random offsets, best gain."""

    def propose(s: Samples, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
        taps = np.zeros((candidates, 2, 4))
        taps[..., :3] = random_taps(rng, 2, channels, radius, (candidates,))
        taps[..., 3] = PAIR_WEIGHTS[rng.integers(0, len(PAIR_WEIGHTS), candidates)]
        gain, thr = best_thresholds(filter_responses(s, taps), s.y, s.w, s.num_classes)
        i = int(gain.argmax())
        return taps[i], float(thr[i]), float(gain[i])

    return propose


def _class_sides(s: Samples, go_left: np.ndarray) -> np.ndarray:
    """1 for samples whose class mostly goes left under the current split, else 0."""
    k = s.num_classes
    left = np.bincount(s.y[go_left], weights=s.w[go_left], minlength=k)
    total = np.bincount(s.y, weights=s.w, minlength=k)
    return (left > 0.5 * total)[s.y].astype(np.float64)


def fisher_weights(values: np.ndarray, z: np.ndarray, w: np.ndarray, active: np.ndarray,
                   ridge: float = 1e-3) -> np.ndarray:
    """Ridge Fisher discriminant per filter: values (F, T, S), groups z (S,), sample weights w,
    active taps (F, T) bool -> weights (F, T), zero on inactive taps, max |w| = 1."""
    t = values.shape[1]
    g1, g0 = w * z, w * (1 - z)
    m1 = values @ g1 / max(g1.sum(), 1e-12)  # (F, T)
    m0 = values @ g0 / max(g0.sum(), 1e-12)
    centred = values - np.where(z > 0, m1[..., None], m0[..., None])  # (F, T, S)
    cov = np.einsum("fts,fus,s->ftu", centred, centred, w) / max(w.sum(), 1e-12)
    mask = active[:, :, None] & active[:, None, :]
    eye = np.eye(t)[None]
    scale = np.trace(cov, axis1=1, axis2=2)[:, None, None] / np.maximum(active.sum(1), 1)[
        :, None, None]
    cov = np.where(mask, cov, 0.0) + eye * (ridge * np.maximum(scale, 1e-6) + (~active)[:, :, None])
    out = np.linalg.solve(cov, ((m1 - m0) * active)[..., None])[..., 0]  # (F, T)
    out = np.where(active, out, 0.0)
    norm = np.abs(out).max(1, keepdims=True)
    return np.where(norm > 0, out / np.maximum(norm, 1e-12), np.where(active, 1.0, 0.0))


def _mutations(rng, taps: np.ndarray, moves: int, channels: int, radius: int) -> np.ndarray:
    """``moves`` copies of one filter (T, 4), each with one tap moved, added or dropped."""
    out = np.repeat(taps[None], moves, axis=0)
    new = random_taps(rng, 1, channels, radius, (moves,))[:, 0]  # (moves, 3)
    for m in range(moves):
        kind = rng.integers(0, 3)
        on, off = np.flatnonzero(out[m, :, 3] != 0), np.flatnonzero(out[m, :, 3] == 0)
        if kind == 1 and off.size:  # add a tap
            j = off[0]
            out[m, j, :3], out[m, j, 3] = new[m], 1.0
        elif kind == 2 and on.size > 1:  # drop a tap
            out[m, rng.choice(on)] = 0.0
        else:  # move a tap
            out[m, rng.choice(on), :3] = new[m]
    return out


def learned_filter_proposer(channels: int, radius: int, max_taps: int = 4,
                            candidates: int = 48, refine_iters: int = 3, moves: int = 12,
                            keep: int = 2, sparsity_cost: float = 1e-3) -> Proposer:
    """Kang & Nguyen-style split: sparse filter with learned weights, offsets and sparsity."""

    def score(s: Samples, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gain, thr = best_thresholds(filter_responses(s, taps), s.y, s.w, s.num_classes)
        return gain - sparsity_cost * (taps[..., 3] != 0).sum(-1), thr

    def refit(s: Samples, taps: np.ndarray, z: np.ndarray) -> np.ndarray:
        ch, dy, dx = (taps[..., i].astype(np.int64) for i in range(3))
        active = taps[..., 3] != 0
        out = taps.copy()
        out[..., 3] = fisher_weights(s.taps(ch, dy, dx), z, s.w, active)
        return out

    def propose(s: Samples, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
        taps = np.zeros((candidates, max_taps, 4))
        taps[..., :3] = random_taps(rng, max_taps, channels, radius, (candidates,))
        used = rng.integers(1, max_taps + 1, candidates)
        on = np.arange(max_taps)[None] < used[:, None]
        taps[..., 3] = np.where(on, rng.standard_normal((candidates, max_taps)), 0.0)
        taps[on.sum(1) == 1, 0, 3] = 1.0
        value, thr = score(s, taps)
        best = (-np.inf, None, 0.0)
        for i in np.argsort(-value)[:keep]:
            cur, cur_v, cur_t = taps[i], value[i], thr[i]
            for _ in range(refine_iters):
                go_left = filter_responses(s, cur[None])[0] < cur_t
                z = _class_sides(s, go_left)
                trial = np.concatenate([cur[None], _mutations(rng, cur, moves, channels, radius)])
                trial = refit(s, trial, z)
                v, t = score(s, trial)
                j = int(v.argmax())
                if not v[j] > cur_v:
                    break
                cur, cur_v, cur_t = trial[j], v[j], t[j]
            if cur_v > best[0]:
                best = (cur_v, cur, cur_t)
        value_best, taps_best, thr_best = best
        gain = value_best + sparsity_cost * (taps_best[:, 3] != 0).sum()
        return taps_best, float(thr_best), float(gain)

    return propose
