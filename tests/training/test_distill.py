"""Knowledge distillation: the soft-target loss by hand, the frozen teacher, training with one."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from semseg.data.camvid import INFO as CAMVID
from semseg.errors import ConfigError
from semseg.hub.checkpoint import ModelSpec, save_checkpoint
from semseg.training.config import TrainConfig
from semseg.training.distill import Distiller, kd_loss, load_teacher
from semseg.training.train import compute_loss, main

from .test_train import tiny_config


def test_kd_loss_matches_the_hand_computed_kl_divergence() -> None:
    # one pixel, two classes: teacher logits (0, ln 3) -> p = (1/4, 3/4); student (0, 0) -> q = 1/2
    teacher = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)
    student = torch.zeros(1, 2, 1, 1)
    want_t1 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert kd_loss(student, teacher, 1.0).item() == pytest.approx(want_t1, rel=1e-6)
    # T = 2: p = softmax(0, ln(3)/2) = (1, sqrt 3) / (1 + sqrt 3); the loss is scaled by T^2
    p1 = 1 / (1 + math.sqrt(3))
    want_t2 = 4 * (p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5))
    assert kd_loss(student, teacher, 2.0).item() == pytest.approx(want_t2, rel=1e-6)
    # the mean over pixels: a second pixel where the two agree halves the loss
    two = kd_loss(torch.cat([student, teacher], 3), torch.cat([teacher, teacher], 3), 1.0)
    assert two.item() == pytest.approx(want_t1 / 2, rel=1e-6)


def test_kd_loss_gradient_pulls_the_student_towards_the_teacher() -> None:
    teacher = torch.randn(2, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    assert kd_loss(teacher.clone(), teacher, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(2, 5, 4, 6, requires_grad=True)
    kd_loss(student, teacher, 1.0).backward()
    # d/ds of mean KL = (softmax(s) - softmax(t)) / pixels
    want = (torch.softmax(student.detach(), 1) - torch.softmax(teacher, 1)) / (2 * 4 * 6)
    assert torch.allclose(student.grad, want, atol=1e-7)
    with pytest.raises(ValueError, match="student logits"):
        kd_loss(torch.zeros(1, 5, 4, 6), teacher, 1.0)


class _Doubler(nn.Module):
    """A 'teacher' whose logits are a fixed function of the input (2x its channels), with a
    batch norm that would change its statistics in train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.bn(x)


def test_distiller_runs_a_frozen_teacher_in_eval_mode_at_the_students_size() -> None:
    distiller = Distiller(_Doubler(), temperature=1.0, weight=0.5)
    distiller.train()
    assert not distiller.teacher.training
    assert not any(p.requires_grad for p in distiller.teacher.parameters())
    x = torch.randn(2, 3, 40, 52, generator=torch.Generator().manual_seed(1))  # not /32: padded
    teacher = distiller.teacher_logits(x, (40, 52))
    assert torch.allclose(teacher, 2 * x / math.sqrt(1 + 1e-5), atol=1e-5)
    assert distiller.teacher.bn.running_mean.abs().max() == 0  # eval mode: statistics kept
    student = torch.zeros(2, 3, 20, 26, requires_grad=True)  # half resolution: teacher resized
    loss = distiller(student, x)
    small = torch.nn.functional.interpolate(teacher, size=(20, 26), mode="bilinear",
                                            align_corners=False)
    assert loss.item() == pytest.approx(0.5 * kd_loss(student, small, 1.0).item(), rel=1e-5)
    loss.backward()
    assert student.grad is not None and distiller.teacher.bn.weight.grad is None
    with pytest.raises(ConfigError, match="temperature > 0"):
        Distiller(_Doubler(), temperature=0.0)


def _checkpoint(tmp_path: Path, info) -> Path:
    spec = ModelSpec(arch="litefpn", info=info, arch_kwargs={"decoder_channels": 16})
    model = spec.build()
    return save_checkpoint(tmp_path / f"{info.name}.pt", model, spec)


def test_load_teacher_refuses_other_classes_or_normalization(tmp_path: Path) -> None:
    assert isinstance(load_teacher(str(_checkpoint(tmp_path, CAMVID)), CAMVID), nn.Module)
    other = dataclasses.replace(CAMVID, name="other", classes=CAMVID.classes[:-1],
                                palette=CAMVID.palette[:-1])
    with pytest.raises(ConfigError, match=r"its classes .* are not the dataset's"):
        load_teacher(str(_checkpoint(tmp_path, other)), CAMVID)
    gray = dataclasses.replace(CAMVID, name="gray", mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    with pytest.raises(ConfigError, match="normalization"):
        load_teacher(str(_checkpoint(tmp_path, gray)), CAMVID)
    with pytest.raises(ConfigError, match="distill_temperature"):
        TrainConfig(distill_temperature=0.0)


def test_training_with_a_teacher_adds_its_term_and_finishes(camvid_root: Path,
                                                            tmp_path: Path) -> None:
    main(tiny_config(camvid_root, tmp_path / "teacher", steps_per_epoch=2))
    teacher_path = str(tmp_path / "teacher" / "best.pt")
    cfg = tiny_config(camvid_root, tmp_path / "student", steps_per_epoch=2, teacher=teacher_path,
                      distill_weight=2.0, distill_temperature=1.5, seed=3)
    summary = main(cfg)
    assert summary["finished"]
    assert json.loads((tmp_path / "student" / "config.json").read_text())["teacher"] == \
        teacher_path
    # the loss is the criterion's plus weight * kd_loss of the teacher's logits
    student = ModelSpec(arch="litefpn", info=CAMVID, arch_kwargs={"decoder_channels": 16}).build()
    teacher = load_teacher(teacher_path, CAMVID)
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 11, (2, 64, 96), generator=torch.Generator().manual_seed(3))
    criterion = nn.CrossEntropyLoss(ignore_index=255)
    student.eval()  # the same logits on both calls
    got = compute_loss(student, criterion, x, y, Distiller(teacher, 1.5, 2.0))
    with torch.no_grad():
        logits = student(x)
        want = criterion(logits, y) + 2.0 * kd_loss(logits, teacher.eval()(x), 1.5)
    assert got.item() == pytest.approx(want.item(), rel=1e-4)
