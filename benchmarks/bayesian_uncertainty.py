"""Is Monte-Carlo dropout uncertainty higher on object boundaries? (Bayesian SegNet, Sec. 5)

Usage:
    python benchmarks/bayesian_uncertainty.py RUN_DIR [--data ../shared/data/camvid]
        [--samples 10] [--band 1] [--interior 5] [--json OUT.json]

For every CamVid val image, predicts with ``mc_samples`` dropout samples and compares the mean
predictive entropy on ground-truth boundary pixels (a valid pixel with a pixel of another valid
class within ``band`` px) with interior pixels (more than ``interior`` px from any boundary);
also on misclassified vs correctly classified pixels. Void pixels are excluded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def boundary_and_interior(mask: np.ndarray, ignore: int, band: int, interior: int):
    """Boolean maps of boundary pixels and interior pixels of a label mask."""
    m = torch.from_numpy(mask.astype(np.int64))[None, None].float()  # (1, 1, H, W)
    valid = m != ignore
    big = torch.where(valid, m, torch.full_like(m, -1e4))
    small = torch.where(valid, m, torch.full_like(m, 1e4))

    def differs(r: int) -> torch.Tensor:  # another valid label within r px (square window)
        hi = F.max_pool2d(big, 2 * r + 1, 1, r)
        lo = -F.max_pool2d(-small, 2 * r + 1, 1, r)
        return (hi > m) | (lo < m)

    boundary = differs(band) & valid
    inner = valid & ~differs(interior)
    return boundary[0, 0].numpy(), inner[0, 0].numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "camvid"))
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--band", type=int, default=1)
    ap.add_argument("--interior", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from semseg.data import camvid
    from semseg.inference import Segmenter

    torch.manual_seed(0)
    seg = Segmenter.from_pretrained(str(args.run / "best.pt"))
    ds = camvid.dataset(args.data, "val")
    sums = {k: 0.0 for k in ("boundary", "interior", "wrong", "right")}
    counts = dict.fromkeys(sums, 0)
    per_image_higher = 0
    for i in range(len(ds)):
        image, mask = ds.load(i)
        result = seg.predict(image, mc_samples=args.samples)
        ent = result.uncertainty["entropy"]  # (H, W)
        boundary, inner = boundary_and_interior(mask, camvid.INFO.ignore_index, args.band,
                                                args.interior)
        valid = mask != camvid.INFO.ignore_index
        wrong = valid & (result.mask != mask)
        for key, sel in (("boundary", boundary), ("interior", inner), ("wrong", wrong),
                         ("right", valid & ~wrong)):
            sums[key] += float(ent[sel].sum())
            counts[key] += int(sel.sum())
        per_image_higher += float(ent[boundary].mean()) > float(ent[inner].mean())
    means = {k: sums[k] / max(counts[k], 1) for k in sums}
    report = {"run": str(args.run), "images": len(ds), "mc_samples": args.samples,
              "band_px": args.band, "interior_px": args.interior,
              "mean_entropy": means, "pixels": counts,
              "images_with_higher_boundary_entropy": per_image_higher,
              "boundary_over_interior": means["boundary"] / max(means["interior"], 1e-12)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
