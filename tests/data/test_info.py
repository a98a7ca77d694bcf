"""DatasetInfo: validation messages, dict round trip, the VOC default palette."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semseg.data import DATASET_INFOS, camvid
from semseg.data.info import IGNORE_INDEX, IMAGENET_MEAN, DatasetInfo, default_palette
from semseg.errors import ConfigError

RGB3 = ((0, 0, 0), (10, 20, 30), (255, 255, 255))


def info(**kw) -> DatasetInfo:
    args = {"name": "toy", "classes": ("a", "b", "c"), "palette": RGB3, **kw}
    return DatasetInfo(**args)


def test_defaults_and_helpers() -> None:
    i = info()
    assert i.num_classes == 3
    assert i.ignore_index == IGNORE_INDEX == 255
    assert i.mean == IMAGENET_MEAN
    pal = i.palette_array()
    assert pal.dtype == np.uint8 and pal.shape == (3, 3)
    np.testing.assert_array_equal(pal[1], [10, 20, 30])


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"classes": (), "palette": ()}, "dataset 'toy': no classes"),
        ({"palette": RGB3[:2]}, "dataset 'toy': 3 classes but 2 palette colours"),
        ({"palette": ((0, 0, 0), (1, 2, 3), (1, 2, 256))},
         "dataset 'toy': palette entries must be (r, g, b) in 0..255"),
        ({"palette": ((0, 0, 0), (1, 2), (1, 2, 3))},
         "dataset 'toy': palette entries must be (r, g, b) in 0..255"),
        ({"ignore_index": 2},
         "dataset 'toy': ignore_index 2 collides with a class id (classes are 0..2)"),
        ({"ignore_index": -1}, "dataset 'toy': ignore_index -1 must be in 0..255"),
        ({"ignore_index": 256}, "dataset 'toy': ignore_index 256 must be in 0..255"),
        ({"classes": ("a", "b", "a")}, "dataset 'toy': duplicate class names ['a']"),
        ({"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5)}, "dataset 'toy': mean and std lengths"),
        ({"std": (0.2, 0.0, 0.2)}, "dataset 'toy': std values must be > 0"),
    ],
)
def test_validation_errors(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        info(**kw)
    assert str(exc.value).startswith(message)


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        info().name = "other"  # type: ignore[misc]


def test_dict_round_trip_through_json() -> None:
    original = info(ignore_index=254, mean=(0.5, 0.4, 0.3), std=(0.1, 0.2, 0.3))
    d = original.to_dict()
    assert d == {
        "name": "toy", "classes": ["a", "b", "c"], "palette": [[0, 0, 0], [10, 20, 30],
        [255, 255, 255]], "ignore_index": 254, "mean": [0.5, 0.4, 0.3], "std": [0.1, 0.2, 0.3],
    }
    again = DatasetInfo.from_dict(json.loads(json.dumps(d)))
    assert again == original
    assert isinstance(again.classes, tuple) and isinstance(again.palette[0], tuple)
    assert DatasetInfo.from_dict(camvid.INFO.to_dict()) == camvid.INFO


def test_from_dict_defaults_optional_keys() -> None:
    d = {"name": "toy", "classes": ["a"], "palette": [[1, 2, 3]]}
    i = DatasetInfo.from_dict(d)
    assert i.ignore_index == 255 and i.mean == IMAGENET_MEAN


def test_from_dict_unknown_and_missing_keys() -> None:
    d = info().to_dict()
    with pytest.raises(ConfigError, match=r"dataset info: unknown keys \['colour', 'extra'\]"):
        DatasetInfo.from_dict({**d, "extra": 1, "colour": 2})
    del d["palette"]
    with pytest.raises(ConfigError, match=r"dataset info: missing keys \['palette'\]"):
        DatasetInfo.from_dict(d)


def test_default_palette_matches_voc() -> None:
    pal = default_palette(21)
    assert pal[:4] == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
    assert pal[8] == (64, 0, 0)  # VOC cat
    assert pal[15] == (192, 128, 128)  # VOC person
    assert pal[20] == (0, 64, 128)  # VOC tvmonitor
    assert len(set(default_palette(256))) == 256  # every index gets its own colour


def test_camvid_info_is_registered() -> None:
    assert DATASET_INFOS["camvid"] is camvid.INFO
    assert camvid.INFO.num_classes == 11
    assert camvid.INFO.classes[0] == "sky" and camvid.INFO.classes[-1] == "bicyclist"
    assert camvid.INFO.palette[3] == (128, 64, 128)  # road
