"""3DGNN head: chunked kNN = brute force, T = 0 is the unary network bit-for-bit, the graph follows
3D (not image) neighbours, ONNX export, aux-head models, and the NYUv2 depth constants."""

from __future__ import annotations

import pytest
import torch

from semseg.data import nyuv2
from semseg.models import create_model
from semseg.models.gnn3d import DEPTH_MEAN, DEPTH_STD, knn_indices, neighbour_mean


@pytest.mark.parametrize(("n", "k", "chunk", "ref_chunk"),
                         [(200, 8, 32, 48), (97, 97, 10, 1000), (5, 64, 2, 3)])
def test_chunked_knn_equals_brute_force(n: int, k: int, chunk: int, ref_chunk: int) -> None:
    torch.manual_seed(n)
    points = torch.randn(2, n, 3, dtype=torch.float64)
    got = knn_indices(points, k, chunk=chunk, ref_chunk=ref_chunk)
    dist = ((points[:, :, None] - points[:, None]) ** 2).sum(-1)  # (B, N, N) brute force
    want = dist.argsort(dim=2)[..., : min(k, n)]
    assert torch.equal(got, want)
    assert (got[..., 0] == torch.arange(n)).all()  # every point is its own nearest


def test_neighbour_mean_by_hand() -> None:
    h = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]]])  # (1, 3, 2)
    idx = torch.tensor([[[0, 1], [1, 2], [2, 2]]])
    assert torch.equal(neighbour_mean(h, idx), torch.tensor([[[2.0, 1.0], [4.0, 3.0],
                                                              [5.0, 4.0]]]))


@pytest.mark.parametrize("base", ["enet", "litefpn"])
def test_zero_steps_is_the_unary_network_bit_for_bit(base: str) -> None:
    x = torch.randn(2, 4, 45, 67)
    torch.manual_seed(0)
    head = create_model("gnn3d", 5, 4, base=base, steps=0).eval()
    torch.manual_seed(0)
    plain = create_model(base, 5, 4).eval()
    with torch.inference_mode():
        assert torch.equal(head(x), plain(x))
        head.steps = 2
        assert not torch.equal(head(x), plain(x))  # the check above can fail


def test_graph_neighbours_are_3d_neighbours() -> None:
    """Two halves of the image at 1 m and 5 m: with depth, no pixel's neighbours cross the depth
    step; on the image plane (no depth channel) the column next to the step does."""
    head = create_model("gnn3d", 3, 4, base="enet", k=6, stride=4)
    x = torch.zeros(1, 4, 32, 32)
    depth_m = torch.full((32, 32), 1.0)
    depth_m[:, 16:] = 5.0
    x[0, 3] = (depth_m / 10 - DEPTH_MEAN) / DEPTH_STD  # semseg's normalized depth channel
    points = head.points(x, (8, 8))  # (1, 64, 3)
    assert points[0, :, 2].min().item() == pytest.approx(1.0, abs=1e-5)
    far = points[0, :, 2] > 3  # right half
    idx = knn_indices(points, 6)[0]
    assert (far[idx] == far[:, None]).all()
    flat = create_model("gnn3d", 3, 3, base="enet", k=6, stride=4)
    idx2 = knn_indices(flat.points(x[:, :3], (8, 8)), 6)[0]
    assert not (far[idx2] == far[:, None]).all()


def test_onnx_export_with_depth(tmp_path) -> None:
    from semseg.export.onnx import export_onnx, onnx_parity

    torch.manual_seed(0)
    model = create_model("gnn3d", 3, 4, base="enet", k=8)
    path = export_onnx(model, tmp_path / "g.onnx", input_size=(64, 96), in_channels=4)
    assert onnx_parity(model, path, torch.randn(2, 4, 64, 96)) < 1e-4


def test_aux_head_models_keep_their_aux_outputs() -> None:
    model = create_model("gnn3d", 3, 4, base="pspnet", k=4).train()
    logits, aux = model.forward_with_aux(torch.randn(2, 4, 64, 64))
    assert logits.shape == (2, 3, 64, 64) and set(aux) == set(model.aux_weights)


def test_depth_constants_match_nyuv2() -> None:
    assert abs(DEPTH_MEAN - nyuv2.RGBD_MEAN[3]) < 1e-9
    assert abs(DEPTH_STD - nyuv2.RGBD_STD[3]) < 1e-9


def test_graph_head_option() -> None:
    from semseg.cli import build_parser
    from semseg.errors import ConfigError
    from semseg.training.config import TrainConfig

    args = build_parser().parse_args(["train", "--arch", "esanet", "--graph-head", "knn3d"])
    assert args.graph_head == "knn3d"
    assert TrainConfig().graph_head is None
    with pytest.raises(ConfigError, match="graph_head"):
        TrainConfig(graph_head="dense")
