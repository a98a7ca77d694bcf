"""LiDAR scans: spherical range projection, SalsaNext inference with MC-dropout uncertainty,
KNN back to every point, training and evaluation on SemanticKITTI, PLY/.label outputs.

Example:
    >>> from semseg.data.semantickitti import read_scan
    >>> from semseg.lidar.projection import project
    >>> proj = project(read_scan("000000.bin"))       # 64 x 2048, five normalised channels
    >>> proj.image.shape, proj.u.shape                 # (5, 64, 2048), (N,)
"""
