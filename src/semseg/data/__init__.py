"""Datasets: a frozen ``DatasetInfo`` each, readers for their on-disk layouts, transforms.

``FORMATS`` maps a format name to its module; each module exposes ``INFO`` (when its classes are
fixed), ``splits(root, palette=None) -> list[SplitSource]`` and ``dataset(root, split, transform)``.
Built-in formats that can produce more than one label set list them in ``LABEL_SETS`` (default
first) and pick one with ``palette=NAME``; ``DATASET_INFOS`` holds every label set by name.
RGB-D formats (nyuv2, sunrgbd) yield 4-channel inputs: ``len(info.mean)`` is the channel count.
"""

from semseg.data import (
    ade20k,
    camvid,
    camvid32,
    cityscapes,
    coco,
    folder,
    nyuv2,
    sunrgbd,
    sunrgbd_official,
    voc,
)
from semseg.data.dataset import Sample, SegmentationDataset, SplitSource
from semseg.data.info import IGNORE_INDEX, DatasetInfo

FORMATS = {
    "camvid": camvid,
    "camvid32": camvid32,
    "voc": voc,
    "coco": coco,
    "ade20k": ade20k,
    "cityscapes": cityscapes,
    "nyuv2": nyuv2,
    "sunrgbd": sunrgbd,
    "sunrgbd_official": sunrgbd_official,
    "folder": folder,
}
DATASET_INFOS: dict[str, DatasetInfo] = {"camvid": camvid.INFO} | {
    name: info for module in FORMATS.values() for name, info in getattr(module, "LABEL_SETS",
                                                                         {}).items()
}


def get_format(name: str):
    """The dataset module for a format name; unknown names raise ``ConfigError``."""
    from semseg.errors import ConfigError

    if name not in FORMATS:
        raise ConfigError(f"unknown dataset format {name!r}; choose from {', '.join(FORMATS)}")
    return FORMATS[name]


__all__ = [
    "DATASET_INFOS",
    "FORMATS",
    "IGNORE_INDEX",
    "DatasetInfo",
    "Sample",
    "SegmentationDataset",
    "SplitSource",
    "get_format",
]
