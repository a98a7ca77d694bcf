"""RefineNet: RCU / chained residual pooling arithmetic, fusion, cascade widths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semseg.errors import ConfigError
from semseg.models import create_model
from semseg.models.refinenet import ChainedResidualPooling, RefineNetBlock, ResidualConvUnit


def test_rcu_with_zero_second_conv_is_identity() -> None:
    rcu = ResidualConvUnit(4)
    torch.nn.init.zeros_(rcu.conv2.weight)
    torch.nn.init.zeros_(rcu.conv2.bias)
    x = torch.randn(1, 4, 5, 6)  # negative values included: the shortcut is pre-ReLU
    torch.testing.assert_close(rcu(x), x)


def test_chained_residual_pooling_with_identity_convs_sums_repeated_max_pools() -> None:
    crp = ChainedResidualPooling(2, blocks=4)
    for block in crp.blocks:
        torch.nn.init.dirac_(block[1].weight)  # 3x3 identity conv
    x = torch.randn(1, 2, 9, 11)
    relu = F.relu(x)
    expected, path = relu.clone(), relu
    for _ in range(4):
        path = F.max_pool2d(path, 5, stride=1, padding=2)
        expected = expected + path
    with torch.no_grad():
        torch.testing.assert_close(crp(x), expected)


def test_refinenet_block_fuses_to_the_largest_resolution() -> None:
    block = RefineNetBlock((8, 4), out_ch=4, crp_blocks=2)
    out = block(torch.randn(2, 8, 3, 4), torch.randn(2, 4, 6, 8))
    assert out.shape == (2, 4, 6, 8)
    single = RefineNetBlock((8,), out_ch=8)  # RefineNet-4: one path, no fusion convs
    assert single.fuse is None
    assert single(torch.randn(1, 8, 3, 4)).shape == (1, 8, 3, 4)


@pytest.fixture(scope="module")
def light():
    torch.manual_seed(0)
    return create_model("refinenet", num_classes=3, backbone="resnet18")


def test_cascade_widths_and_resolutions(light) -> None:
    shapes = {}
    hooks = [
        getattr(light, f"refine{i}").register_forward_hook(
            lambda _m, _i, out, i=i: shapes.__setitem__(i, tuple(out.shape[1:]))
        )
        for i in (1, 2, 3, 4)
    ]
    with torch.no_grad():
        light.eval()(torch.randn(1, 3, 64, 96))
    for h in hooks:
        h.remove()
    # 512 channels at RefineNet-4 (1/32), 256 elsewhere (1/16, 1/8, 1/4).
    assert shapes == {4: (512, 2, 3), 3: (256, 4, 6), 2: (256, 8, 12), 1: (256, 16, 24)}


def test_paper_resnet101_forward_and_parameter_count() -> None:
    model = create_model("refinenet", num_classes=21).eval()
    total = sum(p.numel() for p in model.parameters())
    print(f"refinenet[resnet101] params: {total / 1e6:.2f}M (Nekrasov et al. 2018: 118.1M)")
    # The paper gives no count; the Light-Weight RefineNet paper lists 118.1M for RefineNet-101.
    assert abs(total - 118.1e6) < 0.01 * 118.1e6
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 21, 64, 64)


def test_unknown_backbone_raises() -> None:
    with pytest.raises(ConfigError, match="resnet101"):
        create_model("refinenet", num_classes=3, backbone="xception")
