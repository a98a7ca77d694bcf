"""Encoders (classification trunks without heads) shared by several segmentation models."""

from semseg.models.backbones.resnet import ResNet, resnet18, resnet34, resnet50, resnet101

__all__ = ["ResNet", "resnet18", "resnet34", "resnet50", "resnet101"]
