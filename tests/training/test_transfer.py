"""Whole-network initialisation across label sets (``TrainConfig.init``,
``semseg.training.transfer``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from semseg.data.camvid import INFO as CAMVID
from semseg.data.cityscapes import INFO as CITYSCAPES
from semseg.errors import ConfigError, ModelError
from semseg.hub import pretrained as hub
from semseg.hub.checkpoint import ModelSpec
from semseg.training.transfer import class_sources, init_from, transfer_state

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


class Tiny(nn.Module):
    def __init__(self, k: int, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Conv2d(width, k, 1)

    def forward(self, x):
        return self.head(self.body(x))


def test_class_sources_cityscapes_to_camvid() -> None:
    rows = dict(zip(CAMVID.classes, class_sources(CITYSCAPES, CAMVID), strict=True))
    c = CITYSCAPES.classes.index
    assert rows["tree"] == [c("vegetation")]  # one-to-one through the camvid->cityscapes table
    assert rows["building"] == [c("building")]  # not averaged with "wall"
    assert rows["pedestrian"] == [c("person")]
    assert rows["bicyclist"] == [c("rider"), c("motorcycle"), c("bicycle")]  # no 1:1 counterpart


def test_transfer_copies_body_and_reindexes_classifier() -> None:
    torch.manual_seed(0)
    src, dst = Tiny(20), Tiny(11)  # Cityscapes: 19 classes + 1 void output
    fresh_head = dst.head.weight.detach().clone()
    spec_src = ModelSpec("tiny", CITYSCAPES, num_outputs=20)
    spec_dst = ModelSpec("tiny", CAMVID)
    report = transfer_state(dst, spec_dst, src.state_dict(), spec_src, "src")
    assert torch.equal(dst.body.weight, src.body.weight)
    assert sorted(report.remapped) == ["head.bias", "head.weight"]
    w, c = src.head.weight.detach(), CITYSCAPES.classes.index
    assert torch.equal(dst.head.weight[CAMVID.classes.index("tree")], w[c("vegetation")])
    expected = (w[c("rider")] + w[c("motorcycle")] + w[c("bicycle")]) / 3
    assert torch.allclose(dst.head.weight[CAMVID.classes.index("bicyclist")], expected)
    assert report.fresh_classes == []
    assert not torch.equal(dst.head.weight, fresh_head)


def test_transfer_refuses_a_different_architecture() -> None:
    src, dst = Tiny(20, width=8), Tiny(11, width=4)
    with pytest.raises(ModelError, match=r"body\.weight"):
        transfer_state(dst, ModelSpec("tiny", CAMVID), src.state_dict(),
                       ModelSpec("tiny", CITYSCAPES, num_outputs=20), "src")


def test_init_needs_trained_weights() -> None:
    spec = ModelSpec("litefpn", CAMVID)
    with pytest.raises(ConfigError, match="no trained weights"):
        init_from(spec.build(), spec, "litefpn")


def test_cityscapes_espnetv2_initialises_a_camvid_model(monkeypatch, tmp_path, camvid_root):
    """Zero-shot after re-indexing: most pixels of a real CamVid val frame are right already."""
    if not (MIRROR / "espnetv2" / "espnetv2_s_2.0_city_1024x512.pth").is_file():
        pytest.skip(f"weights mirror {MIRROR} absent")
    monkeypatch.setenv(hub.MIRROR_ENV, str(MIRROR))
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "cache"))
    spec = ModelSpec("espnetv2", CAMVID, arch_kwargs={"s": 2.0, "proj_width": 10})
    model = spec.build()
    report = init_from(model, spec, "espnetv2-cityscapes")
    assert len(report.remapped) == 2 and report.fresh_classes == []
    name = sorted((camvid_root / "val").iterdir())[0].name
    rgb = np.asarray(Image.open(camvid_root / "val" / name).convert("RGB"), dtype=np.float32)
    mask = np.asarray(Image.open(camvid_root / "valannot" / name))
    x = (torch.from_numpy(rgb / 255).permute(2, 0, 1)[None] - torch.tensor(CAMVID.mean)[:, None,
         None]) / torch.tensor(CAMVID.std)[:, None, None]
    with torch.inference_mode():
        pred = model.eval()(x.float()).argmax(1)[0].numpy()
    valid = mask != CAMVID.ignore_index
    assert (pred[valid] == mask[valid]).mean() > 0.8
