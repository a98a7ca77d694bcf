"""SegNet / Bayesian SegNet: index unpooling, decoder widths, dropout placement, paper size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semseg.models import create_model
from semseg.models.layers import max_unpool2d


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_max_unpool2d_equals_torch_unpool() -> None:
    x = torch.randn(2, 3, 6, 9)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)  # (2, 3, 3, 4): drops a column
    ours = max_unpool2d(pooled, idx, (6, 9))
    assert torch.equal(ours, F.max_unpool2d(pooled, idx, 2, 2, output_size=(6, 9)))
    # Hand-built case: the max of each window returns to where it came from, zeros elsewhere.
    plane = torch.tensor([[[[1.0, 5.0], [2.0, 3.0]]]])
    p, i = F.max_pool2d(plane, 2, 2, return_indices=True)
    assert torch.equal(max_unpool2d(p, i, (2, 2)), torch.tensor([[[[0.0, 5.0], [0.0, 0.0]]]]))


def test_parameter_count_matches_paper() -> None:
    # 29.46M reported (ENet paper, Table 3); ours with 11 classes: 29,449,355 (-0.04 %).
    n = _n_params(create_model("segnet", num_classes=11))
    assert n == 29_449_355
    assert abs(n - 29.46e6) / 29.46e6 < 0.001


def test_decoder_mirrors_encoder_widths() -> None:
    model = create_model("segnet", num_classes=11)
    outs = [[m.out_channels for m in s if isinstance(m, torch.nn.Conv2d)] for s in model.decoder]
    assert outs == [[512, 512, 512], [512, 512, 256], [256, 256, 128], [128, 64], [64]]


def test_bayesian_segnet_has_central_dropout_and_same_weights() -> None:
    plain, bayes = create_model("segnet", 11), create_model("bayesian_segnet", 11)
    assert _n_params(plain) == _n_params(bayes)
    assert bayes.dropout_stages == (3, 4, 5) and bayes.dropout.p == 0.5
    assert plain.dropout_stages == ()


def test_bayesian_segnet_is_stochastic_only_with_dropout_active() -> None:
    torch.manual_seed(0)
    model = create_model("bayesian_segnet", num_classes=3)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        model.eval()
        assert torch.equal(model(x), model(x))
        model.dropout.train()
        assert not torch.equal(model(x), model(x))


def test_segnet_basic_matches_the_paper_size() -> None:
    # SegNet paper, Table 1: SegNet-Basic has 1.425M parameters (4 x 7x7 convs of 64 channels in
    # encoder and decoder); ours has no conv biases (BN follows) and an 11-class 1x1 classifier.
    n = sum(p.numel() for p in create_model("segnet_basic", 11).parameters())
    assert abs(n - 1.425e6) / 1.425e6 < 0.01
    bayes = create_model("bayesian_segnet_basic", 11)
    assert sum(isinstance(m, torch.nn.Dropout) for m in bayes.modules()) == 1
    assert bayes.dropout_stages == (3, 4)
