"""Datasets: a frozen ``DatasetInfo`` each, readers for their on-disk layouts, transforms.

``FORMATS`` maps a format name to its module; each module exposes ``INFO`` (when its classes are
fixed), ``splits(root, palette=None) -> list[SplitSource]`` and ``dataset(root, split, transform)``.
"""

from semseg.data import camvid, folder
from semseg.data.dataset import Sample, SegmentationDataset, SplitSource
from semseg.data.info import IGNORE_INDEX, DatasetInfo

FORMATS = {"camvid": camvid, "folder": folder}
DATASET_INFOS: dict[str, DatasetInfo] = {"camvid": camvid.INFO}


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
