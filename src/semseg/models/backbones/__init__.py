"""Encoders (classification trunks without heads) shared by several segmentation models."""

from semseg.models.backbones.resnet import ResNet, resnet18, resnet34, resnet50, resnet101
from semseg.models.backbones.vgg import VGG, vgg16

__all__ = ["VGG", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "vgg16"]
