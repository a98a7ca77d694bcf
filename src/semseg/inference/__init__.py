"""Images in, results out: Segmenter, logits (resize/pad, windows, TTA), results,
uncertainty, the one-liner, background effects, video smoothing, Ray."""

from semseg.inference.segmenter import Segmenter, class_map, infer_logits

__all__ = ['Segmenter', 'class_map', 'infer_logits']
