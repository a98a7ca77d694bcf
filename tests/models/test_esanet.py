"""ESANet two-branch fusion: depth reaches the output through its own branch, every parameter
trains with 4 channels, and one real training step (semseg.training.train.main) of each fusion model
(early fusion, two-branch, two-branch + 3DGNN head) on the NYUv2 and official SUN RGB-D
fixtures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semseg.hub.checkpoint import load_model
from semseg.models import create_model
from semseg.training.config import TrainConfig
from semseg.training.train import main


def test_depth_enters_through_its_own_branch() -> None:
    torch.manual_seed(0)
    model = create_model("esanet", 3, 4).eval()
    assert model.depth is not None and model.rgb_channels == 3
    x = torch.randn(1, 4, 64, 64)
    y = x.clone()
    y[:, 3] += 1.0  # change depth only
    with torch.inference_mode():
        assert not torch.allclose(model(x), model(y))
        rgb_only = model.rgb[0][0].weight  # the RGB stem sees 3 channels
    assert rgb_only.shape[1] == 3 and model.depth[0][0].weight.shape[1] == 1
    assert create_model("esanet", 3, 4, depth_channels=0).depth is None  # early fusion
    assert create_model("esanet", 3, 6).depth[0][0].weight.shape[1] == 3  # RGB + HHA


def test_every_parameter_of_both_branches_gets_a_gradient() -> None:
    torch.manual_seed(0)
    model = create_model("esanet", 3, 4).train()
    loss = F.cross_entropy(model(torch.randn(2, 4, 64, 96)), torch.randint(0, 3, (2, 64, 96)))
    loss.backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def _build(name: str, root: Path) -> tuple[str, str]:
    if name == "nyuv2":
        pytest.importorskip("h5py")
        from tests.data.test_nyuv2 import make_nyu

        make_nyu(root)
    else:
        from tests.data.test_sunrgbd_official import make_sun_official

        make_sun_official(root)
    return "train", "test"


VARIANTS = [
    ({"depth_channels": 0}, None),  # early fusion: RGB-D in one encoder
    ({}, None),  # two branches, SE fusion
    ({}, "knn3d"),  # two branches + the 3DGNN head
]
IDS = ["early", "two_branch", "two_branch_gnn3d"]


@pytest.mark.parametrize("fmt", ["nyuv2", "sunrgbd_official"])
@pytest.mark.parametrize(("arch_kwargs", "graph_head"), VARIANTS, ids=IDS)
def test_one_optimizer_step_on_fixture(fmt: str, arch_kwargs: dict, graph_head: str | None,
                                       tmp_path: Path) -> None:
    from semseg.data import get_format
    from semseg.data.transforms import train_transform

    torch.manual_seed(0)
    train_split, _ = _build(fmt, tmp_path / "data")
    module = get_format(fmt)
    tf = train_transform(module.INFO, crop_size=(64, 64), scale_range=(1.0, 1.0))
    ds = module.dataset(tmp_path / "data", train_split, transform=tf)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))  # (2, 4, 64, 64)
    if graph_head:
        model = create_model("gnn3d", 37 if fmt != "nyuv2" else 40, 4, base="esanet",
                             base_kwargs=arch_kwargs, k=8)
    else:
        model = create_model("esanet", 37 if fmt != "nyuv2" else 40, 4, **arch_kwargs)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = F.cross_entropy(model.train()(x), y, ignore_index=255)
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() > 0
    esanet = model.base if graph_head else model
    depth_stem = (esanet.depth or esanet.rgb)[0][0].weight  # (64, 1 or 4, 7, 7)
    assert depth_stem.grad[:, -1].abs().sum() > 0  # the loss reaches depth
    before = depth_stem.detach().clone()
    opt.step()
    assert not torch.equal(before, depth_stem)


@pytest.mark.parametrize("fmt", [
    "nyuv2", pytest.param("sunrgbd_official", marks=pytest.mark.slow)])
@pytest.mark.parametrize(("arch_kwargs", "graph_head"), [
    pytest.param(*VARIANTS[0], marks=pytest.mark.slow),
    pytest.param(*VARIANTS[1], marks=pytest.mark.slow),
    VARIANTS[2],
], ids=IDS)
def test_train_main_writes_a_self_describing_checkpoint(
        fmt: str, arch_kwargs: dict, graph_head: str | None, tmp_path: Path) -> None:
    """``semseg.training.train.main`` for one step (2-5 s each on an idle 2-core machine, 5x that
    under
    load: checkpoints of two ResNet-18 branches with optimizer state); the optimizer-step test
    above covers every variant, so only the 3DGNN wiring runs in the fast suite."""
    train_split, val_split = _build(fmt, tmp_path / "data")
    out = tmp_path / "run"
    summary = main(TrainConfig(
        data=str(tmp_path / "data"), format=fmt, train_split=train_split, val_split=val_split,
        arch="esanet", arch_kwargs=arch_kwargs, graph_head=graph_head,
        pretrained_backbone=False, epochs=1, steps_per_epoch=1, batch_size=2, crop_size=(64, 64),
        workers=0, threads=1, class_weighting="none", device="cpu", out_dir=str(out)))
    assert summary["finished"]
    model, spec, ckpt = load_model(out / "last.pt")  # the checkpoint rebuilds the same model
    assert spec.in_channels == 4
    assert spec.arch == ("gnn3d" if graph_head else "esanet")
    assert math.isfinite(ckpt["metrics"]["pixel_acc"])
    if graph_head:
        assert spec.arch_kwargs == {"base": "esanet", "base_kwargs": arch_kwargs}
        assert model.depth_channel == 3
