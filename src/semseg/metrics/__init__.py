"""Confusion-matrix scores, boundary F / boundary IoU, the evaluation loop."""
