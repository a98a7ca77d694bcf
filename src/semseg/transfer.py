"""Initialise a model from another trained model, across label sets (``TrainConfig.init``).

Every tensor whose name and shape match is copied. Tensors that differ only along class
dimensions (the classifier's weight and bias, where the source has ``K_src`` channels and the
target ``K_dst``) are re-indexed through ``semseg.data.label_maps``: a target class takes the
row of the source class that maps one-to-one onto it (Cityscapes "vegetation" for CamVid
"tree"), or the mean of the rows of every source class mapped onto it (Cityscapes "rider",
"motorcycle" and "bicycle" for CamVid "bicyclist"); a class with no counterpart keeps its fresh
initialisation. Any other mismatch is an error naming the tensor: the two architectures differ.

Example:
    >>> report = init_from(model, spec, "espnetv2-cityscapes")
    >>> report.remapped
    ['bu_dec_l4.merge_layer.3.weight', 'bu_dec_l4.merge_layer.3.bias']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from semseg.checkpoint import ModelSpec
from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError, ModelError


@dataclass
class InitReport:
    """What ``init_from`` did: copied, re-indexed and class rows left at their fresh values."""

    source: str
    copied: list[str] = field(default_factory=list)
    remapped: list[str] = field(default_factory=list)
    fresh_classes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the training log."""
        fresh = f"; fresh classifier rows: {', '.join(self.fresh_classes)}" \
            if self.fresh_classes else ""
        return (f"initialised from {self.source}: {len(self.copied)} tensors copied, "
                f"{len(self.remapped)} re-indexed by class{fresh}")


def class_sources(src: DatasetInfo, dst: DatasetInfo) -> list[list[int]]:
    """For each class of ``dst``, the indices of the ``src`` classes its classifier row takes."""
    if src.classes == dst.classes:
        return [[i] for i in range(dst.num_classes)]
    from semseg.data.label_maps import TABLES

    forward = TABLES.get((src.name, dst.name))
    backward = TABLES.get((dst.name, src.name))
    if forward is None and backward is None:
        pairs = ", ".join(f"{a}->{b}" for a, b in TABLES)
        raise ConfigError(f"cannot initialise {dst.name} classes from {src.name} classes: no "
                          f"label map between them (available: {pairs})")
    rows: list[list[int]] = []
    for name in dst.classes:
        one = backward.get(name) if backward else None
        if one is not None:
            rows.append([src.classes.index(one)])
        else:
            rows.append([i for i, s in enumerate(src.classes)
                         if forward and forward.get(s) == name])
    return rows


def _reindex(tensor: torch.Tensor, dim: int, k_src: int, rows: list[list[int]]) -> torch.Tensor:
    """Pick (or average) source slices along ``dim`` per target class; zeros where none."""
    parts = []
    for sources in rows:
        idx = torch.tensor([s for s in sources if s < k_src], dtype=torch.long)
        shape = list(tensor.shape)
        shape[dim] = 1
        parts.append(tensor.index_select(dim, idx).mean(dim, keepdim=True) if idx.numel()
                     else tensor.new_zeros(shape))
    return torch.cat(parts, dim)


def transfer_state(
    model: nn.Module, spec: ModelSpec, src_state: dict[str, torch.Tensor], src_spec: ModelSpec,
    source: str,
) -> InitReport:
    """Load ``src_state`` into ``model`` (in place), re-indexing class dimensions."""
    rows = class_sources(src_spec.info, spec.info)
    k_src, k_dst = src_spec.out_channels, spec.out_channels
    report = InitReport(source, fresh_classes=[spec.info.classes[t] for t, r in enumerate(rows)
                                               if not r])
    state = model.state_dict()
    missing = sorted(set(state) - set(src_state))
    if missing:
        raise ModelError(f"{source}: has no tensor {missing[0]!r} of architecture {spec.arch!r} "
                         f"({len(missing)} missing); initialise from the same architecture")
    same_labels = k_src == k_dst and all(r == [i] for i, r in enumerate(rows))
    for name, fresh in state.items():
        tensor = src_state[name].to(fresh.dtype)
        class_dims = [] if same_labels or tensor.ndim != fresh.ndim else [
            d for d in range(min(2, fresh.ndim))
            if fresh.shape[d] == k_dst and tensor.shape[d] == k_src]
        if not class_dims and tensor.shape == fresh.shape:
            state[name] = tensor
            report.copied.append(name)
            continue
        others_match = tensor.ndim == fresh.ndim and all(
            tensor.shape[d] == fresh.shape[d] for d in range(fresh.ndim) if d not in class_dims)
        if not class_dims or not others_match:
            raise ModelError(
                f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, architecture "
                f"{spec.arch!r} {spec.arch_kwargs} needs {tuple(fresh.shape)}; the two networks "
                "differ beyond their class count (check arch_kwargs)")
        for d in class_dims:
            tensor = _reindex(tensor, d, k_src, rows)
        for d in class_dims:  # classes without a counterpart keep their fresh initialisation
            for t, sources in enumerate(rows):
                if not [s for s in sources if s < k_src]:
                    tensor.narrow(d, t, 1).copy_(fresh.narrow(d, t, 1))
        state[name] = tensor
        report.remapped.append(name)
    model.load_state_dict(state, strict=True)
    return report


def init_from(model: nn.Module, spec: ModelSpec, source: str) -> InitReport:
    """Initialise ``model`` from a pretrained name or a ``.pt``/``.safetensors`` file."""
    from semseg.benchmark import load_any

    loaded = load_any(source)
    if loaded.source == "architecture":
        raise ConfigError(f"init {source!r}: an architecture name has no trained weights; give "
                          "a pretrained name or a checkpoint file")
    if loaded.spec.arch != spec.arch:
        raise ConfigError(f"init {source!r} is a {loaded.spec.arch!r} model; this run trains "
                          f"{spec.arch!r} (initialise from the same architecture)")
    return transfer_state(model, spec, loaded.model.state_dict(), loaded.spec, source)
