"""PCAMs stage 2: affinities, their loss, and the random walk on toy images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semseg.points.clicks import Click
from semseg.points.pcams import (
    AffinityParams,
    affinity_loss,
    confident_labels,
    offsets,
    pair_affinity,
    present_scores,
    pseudo_mask,
    random_walk,
    train_affinity,
)


def test_offsets_and_pair_affinity_by_hand():
    o = offsets(1)
    assert len(o) == 9 and o[0].tolist() == [0, 0]
    embed = torch.tensor([[[0.0, 2.0]], [[0.0, 4.0]]])  # (E=2, h=1, w=2)
    aff = pair_affinity(embed, radius=1)  # (9, 1, 2)
    right = next(i for i, (dy, dx) in enumerate(o) if (dy, dx) == (0, 1))
    assert aff[0].tolist() == [[1.0, 1.0]]  # a pixel with itself
    assert aff[right, 0, 0].item() == pytest.approx(np.exp(-3.0))  # mean |diff| = (2 + 4) / 2
    assert aff[right, 0, 1].item() == 0.0  # leaves the image
    assert (aff[[i for i, (dy, _) in enumerate(o) if dy != 0]] == 0).all()  # one row only


def test_affinity_loss_by_hand():
    d = 1.5
    embed = torch.tensor([[[[0.0, d]]]])  # (N=1, E=1, h=1, w=2)
    assert affinity_loss(embed, torch.tensor([[[0, 1]]]), 1).item() == pytest.approx(
        0.5 * -np.log(1 - np.exp(-d)))  # two negative pairs (both directions), no positive
    assert affinity_loss(embed, torch.tensor([[[1, 1]]]), 1).item() == pytest.approx(0.5 * d)
    assert affinity_loss(embed, torch.tensor([[[1, -1]]]), 1).item() == 0.0  # unsure: no pair


def test_random_walk_spreads_seeds_within_regions_not_across_edges():
    scores = np.full((2, 1, 10), 0.5)
    scores[:, 0, 0], scores[:, 0, 9] = (1.0, 0.0), (0.0, 1.0)  # one seed per class
    embed = torch.zeros(1, 1, 10)
    embed[..., 5:] = 10.0  # an edge between x = 4 and x = 5
    aff = pair_affinity(embed, radius=2).numpy()
    walked = random_walk(scores, aff, radius=2, beta=8.0, iters=60)
    assert walked.argmax(0)[0].tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(walked.sum(0), 1.0, rtol=1e-5)
    assert random_walk(scores, aff, 2, 8.0, 0).argmax(0)[0].tolist() != [0] * 5 + [1] * 5


def test_present_scores_confident_labels_and_pseudo_mask():
    cam = np.zeros((3, 2, 4), dtype=np.float32)
    cam[0, :, :2] = 5.0
    cam[2, :, 2:] = 5.0
    cam[1] = 9.0  # class 1 scores highest but was not clicked: it must not appear
    s = present_scores(cam, [0, 2])
    assert (s[1] == 0).all() and np.allclose(s.sum(0), 1.0)
    clicks = [Click(0, 0, 0), Click(7, 3, 2)]  # on an 4x8 image (stride 2)
    labels = confident_labels(s, clicks, (4, 8), conf=0.9)
    assert labels.tolist() == [[0, 0, 2, 2], [0, 0, 2, 2]]
    aff = pair_affinity(torch.zeros(1, 2, 4), 1).numpy()
    mask = pseudo_mask(s, aff, clicks, (4, 8), AffinityParams(radius=1, iters=0))
    assert mask.shape == (4, 8) and mask[0, 0] == 0 and mask[3, 7] == 2
    assert set(np.unique(mask).tolist()) == {0, 2}


def test_trained_affinity_separates_two_feature_regions():
    rng = np.random.default_rng(0)
    feats, labels = [], []
    for _ in range(3):
        f = rng.normal(0, 0.3, (8, 6, 6)).astype(np.float32)
        f[:4, :, :3] += 2.0  # region A on the left, region B on the right
        f[4:, :, 3:] += 2.0
        lab = np.zeros((6, 6), dtype=np.int64)
        lab[:, 3:] = 1
        feats.append(f)
        labels.append(lab)
    head = train_affinity(feats, labels, AffinityParams(radius=1, steps=60, embed_dim=4))
    with torch.no_grad():
        aff = pair_affinity(head(torch.from_numpy(feats[0])[None])[0], 1)
    right = next(i for i, (dy, dx) in enumerate(offsets(1)) if (dy, dx) == (0, 1))
    inside, across = aff[right, :, 0].mean(), aff[right, :, 2].mean()  # (x=0,1) vs (x=2,3)
    assert inside > 0.5 and across < 0.1
