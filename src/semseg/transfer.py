"""Initialising a model for training from a pretrained one: every tensor whose name and shape
match is copied, the rest keeps its fresh initialisation.

The converted TFLite models share their encoders with the zoo: ``deeplabv3-mnv2-voc`` (COCO +
VOC MobileNetV2) initialises ``deeplabv3_mobilenetv2`` (all but the classifier when the class
count differs) and ``deeplabv3plus_mobilenetv2`` (the encoder); ``deeplab-edgetpu-cityscapes``
initialises ``deeplabv3_edgetpu``. ``semseg train --init NAME`` calls this after the ImageNet
backbone initialisation, so the named model's tensors win.

Example:
    >>> model = create_model("deeplabv3plus_mobilenetv2", 11)
    >>> init_from_pretrained(model, "deeplabv3-mnv2-voc").copied  # 312 encoder tensors
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from semseg.errors import ConfigError


@dataclass(frozen=True)
class InitReport:
    """What ``init_from_pretrained`` copied: tensor counts and the modules they cover."""

    source: str
    copied: int
    skipped_shape: int  # same name, different shape (e.g. a classifier with other classes)
    missing: int  # model tensors the source does not have
    prefixes: tuple[str, ...]  # top-level modules that received tensors, e.g. ("encoder",)


@torch.no_grad()
def init_from_pretrained(model: nn.Module, name: str,
                         weights_dir: str | os.PathLike | None = None) -> InitReport:
    """Copy the matching tensors of pretrained model ``name`` into ``model``."""
    from semseg.hub import load_pretrained

    source, _ = load_pretrained(name, weights_dir)
    theirs = source.state_dict()
    ours = model.state_dict()
    copied, skipped, prefixes = 0, 0, set()
    for key, tensor in ours.items():
        if key not in theirs:
            continue
        if theirs[key].shape != tensor.shape:
            skipped += 1
            continue
        tensor.copy_(theirs[key])
        copied += 1
        prefixes.add(key.split(".")[0])
    if not copied:
        raise ConfigError(f"--init {name}: no tensor of {type(source).__name__} matches "
                          f"{type(model).__name__} by name and shape; use a model of the same "
                          "family (see docs/pretrained.md)")
    return InitReport(name, copied, skipped, len(ours) - copied - skipped, tuple(sorted(prefixes)))
