"""Cross-dataset label maps: complete tables, exact ids, numpy and torch inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semseg.data import DATASET_INFOS, camvid32, nyuv2
from semseg.data.label_maps import TABLES, available, lookup_table, remap
from semseg.errors import ConfigError, LabelError


@pytest.mark.parametrize("pair", available(), ids=lambda p: f"{p[0]}->{p[1]}")
def test_table_covers_every_source_class_with_real_targets(pair: tuple[str, str]) -> None:
    src, dst = (DATASET_INFOS[n] for n in pair)
    table = TABLES[pair]
    assert list(table) == list(src.classes)
    assert {t for t in table.values() if t is not None} <= set(dst.classes)


def test_cityscapes_to_camvid_ids() -> None:
    city = DATASET_INFOS["cityscapes"].classes
    pred = np.array([[city.index(n) for n in ("road", "wall", "traffic light", "terrain")],
                     [city.index(n) for n in ("rider", "bus", "motorcycle", "sky")]], np.int64)
    out = remap(pred, "cityscapes", "camvid")
    cam = DATASET_INFOS["camvid"].classes
    expected = [[cam.index(n) for n in ("road", "building", "sign", "tree")],
                [cam.index(n) for n in ("bicyclist", "car", "bicyclist", "sky")]]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int64


def test_camvid_round_trip_through_cityscapes() -> None:
    ids = np.arange(11)
    back = remap(remap(ids, "camvid", "cityscapes"), "cityscapes", "camvid")
    bicyclist = DATASET_INFOS["camvid"].classes.index("bicyclist")
    expected = np.where(ids == bicyclist, 255, ids)  # ambiguous: rider or bicycle -> ignored
    np.testing.assert_array_equal(back, expected)


def test_voc_and_coco_things() -> None:
    voc, things = DATASET_INFOS["voc"].classes, DATASET_INFOS["coco_things"].classes
    assert remap(np.array([0, voc.index("person"), voc.index("sofa")]), "voc", "coco_things"
                 ).tolist() == [255, 0, things.index("couch")]
    coco_ids = np.array([things.index(n) for n in ("dog", "truck", "tv", "toothbrush")])
    assert remap(coco_ids, "coco_things", "voc").tolist() == [
        voc.index("dog"), 0, voc.index("tvmonitor"), 0]  # other objects are VOC background
    grass = DATASET_INFOS["coco_stuff"].classes.index("grass")
    assert remap(np.array([grass, 255]), "coco_stuff", "voc").tolist() == [0, 255]


def test_nyuv2_13_map_agrees_with_the_loader_luts() -> None:
    raw = np.arange(895)
    via_40 = remap(nyuv2.LUTS["nyuv2"][raw], "nyuv2", "nyuv2_13")
    np.testing.assert_array_equal(via_40, nyuv2.LUTS["nyuv2_13"][raw])


def test_camvid32_to_camvid_agrees_with_the_loader_luts() -> None:
    rows = np.arange(32)
    np.testing.assert_array_equal(remap(camvid32.LUTS["camvid32"][rows], "camvid32", "camvid"),
                                  camvid32.LUTS["camvid"][rows])


def test_torch_input_keeps_dtype_and_device() -> None:
    pred = torch.tensor([[0, 10, 255]], dtype=torch.uint8)
    out = remap(pred, "camvid", "cityscapes")
    assert out.dtype == torch.uint8 and out.tolist() == [[10, 255, 255]]
    assert remap(torch.tensor([3]), "camvid", "camvid").tolist() == [3]


def test_errors() -> None:
    with pytest.raises(LabelError, match=r"ids \[11\] are not classes 0\.\.10 or 255"):
        remap(np.array([11]), "camvid", "cityscapes")
    with pytest.raises(LabelError, match=r"ids \[-1\]"):
        remap(torch.tensor([-1]), "camvid", "cityscapes")
    with pytest.raises(ConfigError, match=r"no label map from ade20k to camvid; available: "):
        lookup_table("ade20k", "camvid")
    with pytest.raises(ConfigError, match=r"unknown label set 'kitti'"):
        remap(np.array([0]), "kitti", "camvid")
