"""semseg: semantic segmentation — pretrained models, classic architectures, honest metrics."""

__version__ = "0.1.0"
