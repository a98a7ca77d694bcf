"""Cross-dataset label maps: evaluate a model trained on one label set against another's masks.

Each table maps every class name of a source label set to a class name of the target, or to
``None`` where the target has no counterpart (the pixel becomes 255, ignored). Ids are derived
from the names, so a table cannot drift from the class lists in ``DATASET_INFOS``.

Example:
    >>> from semseg.data.label_maps import remap
    >>> camvid_pred = remap(cityscapes_pred, "cityscapes", "camvid")  # (H, W) ids 0..10 or 255
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from semseg.data import DATASET_INFOS, camvid32, coco, nyuv2
from semseg.data.info import IGNORE_INDEX
from semseg.errors import ConfigError, LabelError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

CITYSCAPES_TO_CAMVID = {
    "road": "road", "sidewalk": "sidewalk", "building": "building", "wall": "building",
    "fence": "fence", "pole": "pole", "traffic light": "sign", "traffic sign": "sign",
    "vegetation": "tree",
    "terrain": "tree",  # CamVid has no ground class; its "tree" holds VegetationMisc (grass)
    "sky": "sky", "person": "pedestrian", "rider": "bicyclist", "car": "car", "truck": "car",
    "bus": "car", "train": "car",  # CamVid's "car" groups SUVs, trucks, buses and trains
    "motorcycle": "bicyclist", "bicycle": "bicyclist",  # "bicyclist" holds MotorcycleScooter
}
CAMVID_TO_CITYSCAPES = {
    "sky": "sky", "building": "building", "pole": "pole", "road": "road",
    "sidewalk": "sidewalk", "tree": "vegetation", "sign": "traffic sign", "fence": "fence",
    "car": "car", "pedestrian": "person",
    "bicyclist": None,  # rider and bicycle in one class: either choice would be half wrong
}
VOC_TO_COCO = {
    "background": None, "aeroplane": "airplane", "bicycle": "bicycle", "bird": "bird",
    "boat": "boat", "bottle": "bottle", "bus": "bus", "car": "car", "cat": "cat",
    "chair": "chair", "cow": "cow", "diningtable": "dining table", "dog": "dog",
    "horse": "horse", "motorbike": "motorcycle", "person": "person",
    "pottedplant": "potted plant", "sheep": "sheep", "sofa": "couch", "train": "train",
    "tvmonitor": "tv",
}
_COCO_TO_VOC = {c: v for v, c in VOC_TO_COCO.items() if c is not None}
# VOC annotates objects outside its 20 classes as background, and so does this map.
COCO_STUFF_TO_VOC = {c: _COCO_TO_VOC.get(c, "background") for c in coco.INFO.classes}

TABLES: dict[tuple[str, str], dict[str, str | None]] = {
    ("cityscapes", "camvid"): CITYSCAPES_TO_CAMVID,
    ("camvid", "cityscapes"): CAMVID_TO_CITYSCAPES,
    ("camvid32", "camvid"): {n: g for n, _, g in camvid32.COLORS if g is not None},
    ("voc", "coco_things"): VOC_TO_COCO,
    ("voc", "coco_stuff"): VOC_TO_COCO,
    ("coco_things", "voc"): {c: COCO_STUFF_TO_VOC[c] for c in coco.THINGS_INFO.classes},
    ("coco_stuff", "voc"): COCO_STUFF_TO_VOC,
    ("coco_stuff", "coco_things"): {c: c if c in coco.THINGS_INFO.classes else None
                                    for c in coco.INFO.classes},
    ("nyuv2", "nyuv2_13"): {c: nyuv2.CLASSES13[nyuv2.MAP_40_TO_13[i] - 1]
                            for i, c in enumerate(nyuv2.CLASSES40)},
    ("nyuv2", "sunrgbd"): {c: c if i < 37 else None for i, c in enumerate(nyuv2.CLASSES40)},
    ("sunrgbd", "nyuv2"): {c: c for c in nyuv2.CLASSES40[:37]},
}


def available() -> list[tuple[str, str]]:
    """Every (from, to) pair with a table."""
    return list(TABLES)


def lookup_table(from_name: str, to_name: str) -> np.ndarray:
    """A 256-entry uint8 table: source class id -> target class id (255 where none)."""
    for name in (from_name, to_name):
        if name not in DATASET_INFOS:
            raise ConfigError(f"unknown label set {name!r}; choose from "
                              f"{', '.join(DATASET_INFOS)}")
    src, dst = DATASET_INFOS[from_name], DATASET_INFOS[to_name]
    if from_name == to_name:
        table = {c: c for c in src.classes}
    elif (from_name, to_name) in TABLES:
        table = TABLES[(from_name, to_name)]
    else:
        pairs = ", ".join(f"{a}->{b}" for a, b in TABLES)
        raise ConfigError(f"no label map from {from_name} to {to_name}; available: {pairs}")
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for i, name in enumerate(src.classes):
        target = table[name]
        lut[i] = IGNORE_INDEX if target is None else dst.classes.index(target)
    return lut


def remap(labels: ArrayOrTensor, from_name: str, to_name: str) -> ArrayOrTensor:
    """Map a mask or prediction of class ids (any shape) between label sets; 255 stays 255."""
    lut = lookup_table(from_name, to_name)
    n = DATASET_INFOS[from_name].num_classes
    bad = ((labels < 0) | (labels >= n)) & (labels != IGNORE_INDEX)
    if bad.any():
        shown = sorted({int(v) for v in labels[bad].reshape(-1)[:1000].tolist()})[:5]
        raise LabelError(f"remap {from_name}->{to_name}: ids {shown} are not classes "
                         f"0..{n - 1} or {IGNORE_INDEX}")
    if isinstance(labels, torch.Tensor):
        table = torch.as_tensor(lut, device=labels.device).to(labels.dtype)
        return table[labels.long()]
    return lut[labels].astype(labels.dtype, copy=False)


def map_logits(logits: torch.Tensor, from_name: str, to_name: str) -> torch.Tensor:
    """(N, K_from, H, W) logits -> (N, K_to, H, W) log-probabilities in label set ``to_name``.

    The probability of a target class is the sum of the probabilities of the source classes
    mapped onto it (``lookup_table``); a target class that no source class maps to gets -inf
    and is never predicted, and source classes without a counterpart are dropped.
    """
    lut = torch.as_tensor(lookup_table(from_name, to_name).astype(np.int64))
    k_from, k_to = DATASET_INFOS[from_name].num_classes, DATASET_INFOS[to_name].num_classes
    logp = torch.log_softmax(logits[:, :k_from].float(), dim=1)
    out = logp.new_full((logits.shape[0], k_to, *logits.shape[2:]), float("-inf"))
    for target in range(k_to):
        sources = torch.nonzero(lut[:k_from] == target).flatten().to(logits.device)
        if sources.numel():
            out[:, target] = torch.logsumexp(logp.index_select(1, sources), dim=1)
    return out
