"""ADE20K label sets (Zhou et al., "Scene Parsing through ADE20K Dataset", CVPR 2017).

Only the label set of the pretrained MOSAIC model for now (no dataset reader): the MLPerf
mobile "ADE20K top-31" task keeps SceneParsing classes 1..31 (the 31 most frequent, in the
benchmark's own order) and maps the other 119 classes to 0, "other".
"""

from __future__ import annotations

from semseg.data.info import DatasetInfo

TOP31 = ("wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
         "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
         "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea",
         "mirror", "rug", "field", "armchair")
# The ADE20K colours of the SceneParsing toolkits for those classes; black for other.
PALETTE = ((0, 0, 0), (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50),
           (4, 200, 3), (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230),
           (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
           (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7),
           (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
           (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92),
           (112, 9, 255), (8, 255, 214))
TOP31_INFO = DatasetInfo(name="ade20k-top31", classes=("other", *TOP31), palette=PALETTE,
                         mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
