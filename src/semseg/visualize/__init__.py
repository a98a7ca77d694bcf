"""Colour masks, overlays with legends, heat maps."""
