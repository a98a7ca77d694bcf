"""Per-pixel random forests: learned sparse filters (Kang & Nguyen 2019), Shotton-style pixel
pairs, and a forest head on a trained CNN's features. See ``semseg.forest.model``."""

from semseg.forest.model import KINDS, Forest, ForestParams, smooth_probs, train_forest

__all__ = ["KINDS", "Forest", "ForestParams", "smooth_probs", "train_forest"]
