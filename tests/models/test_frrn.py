"""FRRN A/B: two-stream layout, FRR unit arithmetic, parameter counts."""

from __future__ import annotations

import pytest
import torch

from semseg.models import create_model
from semseg.models.frrn import FRRU, RESIDUAL_CH


def _stream_shapes(model, x) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(pooling stream, residual stream) output shapes of every FRRU, in call order."""
    shapes = []
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out: shapes.append((tuple(out[0].shape[1:]), tuple(out[1].shape[1:])))
        )
        for m in model.modules()
        if isinstance(m, FRRU)
    ]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return shapes


def test_frrn_a_layout_matches_table_1() -> None:
    model = create_model("frrn_a", num_classes=3)
    shapes = _stream_shapes(model, torch.randn(1, 3, 32, 64))
    # Residual stream: always 32 channels at full resolution.
    assert {z for _, z in shapes} == {(RESIDUAL_CH, 32, 64)}
    # Pooling stream: (units, channels, scale) encoder 3x96/2 4x192/4 2x384/8 2x384/16,
    # decoder 2x192/8 2x192/4 2x96/2.
    stages = [
        (3, 96, 2),
        (4, 192, 4),
        (2, 384, 8),
        (2, 384, 16),
        (2, 192, 8),
        (2, 192, 4),
        (2, 96, 2),
    ]
    expected = [(c, 32 // s, 64 // s) for n, c, s in stages for _ in range(n)]
    assert [y for y, _ in shapes] == expected


def test_frrn_b_adds_a_1_32_level() -> None:
    model = create_model("frrn_b", num_classes=3)
    scales = [64 // y[2] for y, _ in _stream_shapes(model, torch.randn(1, 3, 32, 64))]
    stages = [(3, 2), (4, 4), (2, 8), (2, 16), (2, 32), (2, 16), (2, 8), (2, 4), (2, 2)]
    assert scales == [s for n, s in stages for _ in range(n)]


def test_frru_updates_residual_stream_additively_with_nearest_upsampling() -> None:
    torch.manual_seed(0)
    unit = FRRU(pool_in=8, pool_out=8, scale=4).eval()
    y, z = torch.randn(1, 8, 2, 3), torch.randn(1, RESIDUAL_CH, 8, 12)
    with torch.no_grad():
        y_new, z_new = unit(y, z)
        assert y_new.shape == (1, 8, 2, 3) and z_new.shape == z.shape
        update = z_new - z  # one value per 4x4 block: the 1x1 projection of each pooled pixel
        blocks = update.view(1, RESIDUAL_CH, 2, 4, 3, 4)
        assert torch.allclose(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks), atol=1e-6)
        torch.testing.assert_close(update[:, :, ::4, ::4], unit.to_residual(y_new))
        # The pooling stream sees the residual stream max-pooled to its scale.
        pooled = torch.nn.functional.max_pool2d(z, 4)
        torch.testing.assert_close(y_new, unit.convs(torch.cat([y, pooled], dim=1)))


@pytest.mark.parametrize(("name", "quoted"), [("frrn_a", 17.7e6), ("frrn_b", 24.8e6)])
def test_parameter_counts(name, quoted) -> None:
    total = sum(p.numel() for p in create_model(name, num_classes=19).parameters())
    print(f"{name} params: {total / 1e6:.2f}M (quoted {quoted / 1e6:.1f}M)")
    assert abs(total - quoted) < 0.01 * quoted
