"""ENet: paper parameter count, Table 1 stage plan, index sharing between down and up."""

from __future__ import annotations

import pytest
import torch

from semseg.errors import ConfigError
from semseg.models import create_model


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_within_2_percent_of_paper() -> None:
    # Paper Table 3: 0.37M. Ours with 11 classes (CamVid): 363,791, i.e. -1.7 %.
    n = _n_params(create_model("enet", num_classes=11))
    assert n == 363_791
    assert abs(n - 0.37e6) / 0.37e6 < 0.02


def test_stage_two_plan_matches_table_1() -> None:
    model = create_model("enet", num_classes=11)
    mids = [b.ext[3] for b in model.stage2]  # the middle conv of each bottleneck 2.1-2.8
    kinds = [
        "asym" if len(m) == 2 else f"d{m[0].dilation[0]}"
        for m in mids
    ]
    assert kinds == ["d1", "d2", "asym", "d4", "d1", "d8", "asym", "d16"]
    assert [m[0].kernel_size for m in mids if len(m) == 2] == [(5, 1), (5, 1)]


def test_initial_block_is_13_convs_plus_pooled_input() -> None:
    model = create_model("enet", num_classes=11).eval()
    with torch.inference_mode():
        out = model.initial(torch.randn(1, 3, 16, 16))
    assert out.shape == (1, 16, 8, 8)
    assert model.initial.conv.out_channels == 13


def test_dropout_rates_follow_paper() -> None:
    model = create_model("enet", num_classes=11)
    assert model.stage1[0].ext[-1].p == 0.01
    assert model.stage2[0].ext[-1].p == 0.1


def test_too_many_input_channels_are_rejected() -> None:
    with pytest.raises(ConfigError, match="at most 51 input channels"):
        create_model("enet", num_classes=2, in_channels=52)
