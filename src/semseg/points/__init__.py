"""Point supervision: click simulators and sidecars (``clicks``), Bearman et al.'s loss and the
PCAMs stage-1 loss (``losses``), point-supervised data (``data``), and the PCAMs pseudo-label
pipeline (``pcams``)."""
