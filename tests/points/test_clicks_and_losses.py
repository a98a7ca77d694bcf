"""Click simulators, sidecars, target encoding and the point losses against hand computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semseg.errors import InputFileError
from semseg.points.clicks import (
    UNLABELED,
    Click,
    click_mask,
    read_sidecar,
    simulate_clicks,
    simulate_split,
    write_sidecar,
)
from semseg.points.data import PRESENCE_BASE, PointDataset, decode_targets, encode_presence
from semseg.points.losses import PointCamLoss, PointLoss

MASK = np.array([
    [0, 0, 1, 1, 1, 0, 0, 0],
    [0, 0, 1, 1, 1, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1],
    [255, 255, 1, 1, 1, 1, 1, 1],
], dtype=np.uint8)  # class 0: two separate regions of 4 and 6 pixels; class 2 absent


@pytest.mark.parametrize(("protocol", "expected"), [
    ("1-per-class", {0: 1, 1: 1}), ("all-instances", {0: 2, 1: 1}), ("n-per-class", {0: 3, 1: 3}),
])
def test_click_counts_classes_and_determinism(protocol, expected):
    clicks = simulate_clicks(MASK, protocol, num_classes=3, seed=5, key="a", n=3, min_area=4)
    counts = {c: sum(k.cls == c for k in clicks) for c in (0, 1)}
    assert counts == expected
    assert all(MASK[k.y, k.x] == k.cls for k in clicks)  # never on void, always the right class
    assert clicks == simulate_clicks(MASK, protocol, 3, seed=5, key="a", n=3, min_area=4)
    if protocol == "all-instances":  # one click in each region of class 0
        assert sorted(k.x < 4 for k in clicks if k.cls == 0) == [False, True]
        assert simulate_clicks(MASK, protocol, 3, min_area=5, key="a") != clicks  # 4-px one gone


def test_seed_and_key_change_clicks():
    runs = {tuple(simulate_clicks(MASK, "n-per-class", 3, seed=s, key=k, n=2))
            for s in range(4) for k in ("a", "b")}
    assert len(runs) > 1


def test_sidecar_roundtrip_and_bad_files(tmp_path):
    classes = ["a", "b", "c"]
    clicks = [Click(1, 0, 0), Click(3, 2, 1)]
    path = write_sidecar(tmp_path / "x.json", clicks, MASK.shape, classes, "1-per-class", "x.png")
    assert read_sidecar(path, classes, MASK.shape) == clicks
    with pytest.raises(InputFileError, match="differ"):
        read_sidecar(path, ["a", "b"], MASK.shape)
    with pytest.raises(InputFileError, match="8x4"):
        read_sidecar(path, classes, (5, 8))
    doc = json.loads(path.read_text())
    doc["clicks"].append({"x": 99, "y": 0, "cls": 0})
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="outside"):
        read_sidecar(tmp_path / "bad.json", classes)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(InputFileError, match="bad click file"):
        read_sidecar(tmp_path / "junk.json", classes)


def test_click_mask_and_presence_code_roundtrip():
    m = click_mask([Click(0, 0, 0), Click(4, 3, 2)], (4, 8))
    assert m[0, 0] == 0 and m[3, 4] == 2 and (m == UNLABELED).sum() == 30
    y = torch.from_numpy(m).long()
    y[1, 1] = 255
    target = encode_presence(y, [0, 2, 3])[None]  # class 3 clicked outside this crop
    clicked, present = decode_targets(target, num_classes=5)
    assert clicked.sum() == 2
    assert present[0].tolist() == [True, False, True, True, False]
    assert target[0, 1, 1] == 255 and target[0, 0, 1] == PRESENCE_BASE + 0b1101


def _toy():
    logits = torch.tensor([[[[2.0, 0.0, 5.0]], [[0.0, 0.0, 0.0]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[[0, PRESENCE_BASE + 0b01, 255]]])  # click, unlabelled, ignore
    return logits, target


def test_point_loss_equals_hand_computation():
    logits, target = _toy()
    a = np.log1p(np.exp(-2.0))  # -log S(pixel 0, class 0) = -log(e^2 / (e^2 + 1))
    terms = PointLoss(2).terms(logits, target)
    assert terms["point"].item() == pytest.approx(a)
    assert terms["present"].item() == pytest.approx(a)  # t_0 = pixel 0 (pixel 2 is ignored)
    assert terms["absent"].item() == pytest.approx(np.log(2))  # t_1 = pixel 1, S = 1/2
    assert PointLoss(2)(logits, target).item() == pytest.approx(2 * a + np.log(2))
    prior = torch.tensor([[[1.0, 0.0, 0.3]]])
    obj = PointLoss(2, object_classes=(1,)).terms(logits, target, prior)["objectness"]
    assert obj.item() == pytest.approx((np.log1p(np.exp(2.0)) + np.log(2)) / 2)


def test_point_cam_loss_equals_hand_computation():
    logits, target = _toy()
    a = np.log1p(np.exp(-2.0))
    gap_term = (np.log1p(np.exp(-1.0)) + np.log(2)) / 2  # GAP = (1, 0), labels (1, 0)
    assert PointCamLoss(2)(logits, target).item() == pytest.approx(gap_term + a)


def test_point_loss_trains_a_pixel_classifier_from_clicks():
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 1, 8)
    x[..., 4:] = 1.0  # class 0 on the left half, class 1 on the right; one click each
    target = torch.full((1, 1, 8), PRESENCE_BASE + 0b11)
    target[0, 0, 0], target[0, 0, 7] = 0, 1
    net = torch.nn.Conv2d(1, 2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        PointLoss(2)(net(x), target).backward()
        opt.step()
    assert net(x).argmax(1)[0, 0].tolist() == [0] * 4 + [1] * 4


def test_simulated_clicks_on_camvid(camvid_root, tmp_path):
    from semseg.data import camvid

    ds = camvid.dataset(camvid_root, "val")
    ds.samples = ds.samples[:2]
    stats = simulate_split(ds, tmp_path, "1-per-class", seed=0)
    for i in range(2):
        _, mask = ds.load(i)
        present = set(np.unique(mask[mask < 11]).tolist())
        clicks = read_sidecar(tmp_path / f"{ds.samples[i].image.stem}.json", camvid.INFO.classes)
        assert {c.cls for c in clicks} == present and len(clicks) == len(present)
    assert stats["images"] == 2
    points = PointDataset(ds, clicks_dir=tmp_path)
    x, y = points[0]
    first = read_sidecar(tmp_path / f"{ds.samples[0].image.stem}.json", camvid.INFO.classes)
    assert x.shape == (3, 360, 480) and int((y < 11).sum()) == len(first)


def test_classes_clicked_outside_the_crop_get_no_image_level_term():
    logits, target = _toy()
    cropped = target.clone()
    cropped[0, 0, 0] = PRESENCE_BASE + 0b01  # class 0 is in the image, its click was cropped out
    terms = PointLoss(2).terms(logits, cropped)
    assert terms["point"].item() == 0.0 and terms["present"].item() == 0.0
    assert terms["absent"].item() == pytest.approx(np.log(2))  # class 1 is absent anyway
