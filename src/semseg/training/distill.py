"""Knowledge distillation: a small model also learns a trained teacher's per-pixel predictions.

The loss added to the training loss is Hinton et al.'s (2015) soft-target term, per pixel
(the "pixel-wise distillation" of Liu et al. 2019, Structured Knowledge Distillation for
Semantic Segmentation):

    weight * T^2 * mean over pixels of KL( softmax(teacher / T) || softmax(student / T) )

over every pixel of the crop, including those the ground truth marks void: the teacher labels
them too. ``T^2`` keeps the gradient scale independent of the temperature. The teacher runs
frozen, in eval mode, on the same normalized batch as the student (so both must share the
dataset's normalization and classes, which ``load_teacher`` checks); its logits are resized to
the student's when the sizes differ.

Example:
    >>> distiller = Distiller(load_teacher("checkpoints/teacher.safetensors", info), 2.0, 1.0)
    >>> loss = criterion(logits, y) + distiller(logits, x)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError
from semseg.models.layers import resize_to


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))``, averaged over pixels.

    ``student`` and ``teacher`` are logits (N, K, H, W) of the same shape; gradients flow to
    ``student`` only.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student logits {tuple(student.shape)} != teacher {tuple(teacher.shape)}")
    t = temperature
    log_q = F.log_softmax(student.float() / t, dim=1)
    log_p = F.log_softmax(teacher.detach().float() / t, dim=1)
    kl = (log_p.exp() * (log_p - log_q)).sum(1)  # (N, H, W)
    return kl.mean() * t * t


class Distiller(nn.Module):
    """The teacher (frozen) and the weighted soft-target loss; ``distiller(logits, x)``."""

    def __init__(self, teacher: nn.Module, temperature: float = 1.0, weight: float = 1.0,
                 stride: int = 32) -> None:
        super().__init__()
        if temperature <= 0 or weight < 0:
            raise ConfigError(f"distillation needs temperature > 0 and weight >= 0, got "
                              f"{temperature} and {weight}")
        self.teacher = teacher.eval().requires_grad_(False)
        self.temperature, self.weight, self.stride = temperature, weight, stride

    def train(self, mode: bool = True) -> Distiller:
        """The teacher stays in eval mode (batch-norm statistics, dropout off)."""
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def teacher_logits(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The teacher's logits (N, K, *size) for the normalized batch ``x``."""
        from semseg.inference.segmenter import fit_input

        xs, back = fit_input(x, None, self.stride)  # replicate-pad to the stride, crop back
        logits = back(self.teacher(xs))
        return logits if tuple(logits.shape[-2:]) == size else resize_to(logits, size)

    def forward(self, student_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        k = student_logits.shape[1]
        teacher = self.teacher_logits(x, tuple(student_logits.shape[-2:]))[:, :k]
        return self.weight * kd_loss(student_logits, teacher, self.temperature)


def load_teacher(name_or_path: str, info: DatasetInfo, device: str | torch.device = "cpu"
                 ) -> nn.Module:
    """The teacher model for training on a dataset described by ``info``: a pretrained name or
    checkpoint file whose classes and normalization are the dataset's (else ``ConfigError``)."""
    from semseg.hub import loading

    model, spec = loading.load(name_or_path)
    if tuple(spec.info.classes) != tuple(info.classes):
        raise ConfigError(f"teacher {name_or_path}: its classes {list(spec.info.classes)} are "
                          f"not the dataset's {list(info.classes)}")
    if (tuple(spec.info.mean), tuple(spec.info.std)) != (tuple(info.mean), tuple(info.std)):
        raise ConfigError(f"teacher {name_or_path}: trained with normalization mean "
                          f"{tuple(spec.info.mean)} std {tuple(spec.info.std)}, the dataset "
                          f"uses {tuple(info.mean)} {tuple(info.std)}")
    return model.to(device)
