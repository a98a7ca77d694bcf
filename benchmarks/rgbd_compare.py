"""RGB vs early fusion vs two-branch vs two-branch + 3DGNN on synthetic RGB-D rooms.

Trains each variant of the same ESANet-style network for the same steps on the same generated
scenes (semseg.data.synthetic_rgbd: colour carries no class information, geometry does), scores
mIoU on held-out scenes, times one CPU forward pass of a 480x640 frame, and writes docs/rgbd.md
with the exact command. One thread, a few minutes::

    PYTHONPATH=src python benchmarks/rgbd_compare.py --out docs/rgbd.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semseg.data.dataset import rgbd_image
from semseg.data.synthetic_rgbd import INFO, camera, render_scene
from semseg.data.transforms import eval_transform, normalize
from semseg.inference.segmenter import infer_logits
from semseg.metrics.confusion import ConfusionMatrix
from semseg.models import create_model

COMMAND = ("PYTHONPATH=src python benchmarks/rgbd_compare.py --out docs/rgbd.md "
           "--picture docs/images/rgbd_synthetic.png")
# name -> (input channels, create_model arguments); 3DGNN's focal length is set per input size
VARIANTS = {
    "RGB only": (3, {"arch": "esanet", "depth_channels": 0}),
    "early fusion (RGB-D, 4 channels)": (4, {"arch": "esanet", "depth_channels": 0}),
    "two-branch (SE fusion)": (4, {"arch": "esanet"}),
    "two-branch + 3DGNN head": (4, {"arch": "gnn3d", "base": "esanet", "k": 32, "stride": 8}),
}


@dataclass
class Row:
    """One variant's measurements."""

    name: str
    miou: float
    pixel_acc: float
    class_iou: dict[str, float | None]
    cpu_ms_480x640: float
    params_m: float


def make_set(n: int, seed: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """n scenes as normalized (n, 4, H, W) inputs (semseg's RGB-D pipeline) and (n, H, W) labels."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        scene = render_scene(rng, *size)
        x, y = eval_transform(rgbd_image(scene.rgb, scene.depth), scene.labels)
        xs.append(x)
        ys.append(y)
    return normalize(torch.stack(xs), INFO), torch.stack(ys)  # as semseg.inference.segmenter does


def build(channels: int, kwargs: dict, size: tuple[int, int]) -> torch.nn.Module:
    """The variant's model; the 3DGNN head gets the focal lengths of an ``size`` image."""
    kwargs = dict(kwargs)
    arch = kwargs.pop("arch")
    if arch == "gnn3d":
        k = camera(*size)
        kwargs.update(fx=k.fx, fy=k.fy)
    return create_model(arch, INFO.num_classes, channels, **kwargs)


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int,
          seed: int) -> None:
    """AdamW with a linear decay, random mini-batches with horizontal flips."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb, yb = x[idx], y[idx]
        if torch.rand(1, generator=gen).item() < 0.5:
            xb, yb = xb.flip(-1), yb.flip(-1)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


@torch.inference_mode()
def score(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """mIoU etc. on held-out scenes through semseg.inference.segmenter (padding to the stride)."""
    cm = ConfusionMatrix(INFO.num_classes, INFO.ignore_index)
    for i in range(0, len(x), 8):
        cm.update(infer_logits(model, x[i:i + 8]).max(1).indices, y[i:i + 8])
    return cm.compute().to_dict(INFO.classes)


@torch.inference_mode()
def cpu_ms(channels: int, kwargs: dict, repeats: int) -> float:
    """Median CPU time (ms, this process, 1 thread) of one forward pass of a 480x640 frame.

    Process CPU time rather than wall time: on a shared machine other jobs stretch the wall
    clock but not the CPU time this process itself spends."""
    model = build(channels, kwargs, (480, 640)).eval()
    x = torch.randn(1, channels, 480, 640)
    model(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        model(x)
        times.append(1000 * (time.process_time() - start))
    return statistics.median(times)


def run(args: argparse.Namespace) -> list[Row]:
    """Train, score and time every variant."""
    torch.set_num_threads(1)
    size = (args.height, args.width)
    x_train, y_train = make_set(args.train_scenes, 0, size)
    x_val, y_val = make_set(args.val_scenes, 1, size)
    rows = []
    for name, (channels, kwargs) in VARIANTS.items():
        torch.manual_seed(0)
        model = build(channels, kwargs, size)
        started = time.perf_counter()
        train(model, x_train[:, :channels], y_train, args.steps, args.batch, seed=0)
        scores = score(model, x_val[:, :channels], y_val)
        ms = cpu_ms(channels, kwargs, args.repeats)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        rows.append(Row(name, scores["miou"], scores["pixel_acc"], scores["class_iou"], ms,
                        params))
        print(f"{name}: mIoU {100 * scores['miou']:.1f}, {ms:.0f} ms/frame "
              f"(trained in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return rows


def render(rows: list[Row], args: argparse.Namespace) -> str:
    """docs/rgbd.md: the comparison table, its setup and command, and the scoring example."""
    classes = INFO.classes
    head = "| variant | mIoU % | pixel acc % | " + " | ".join(f"{c} IoU" for c in classes)
    head += " | CPU ms / 480x640 frame | params (M) |\n"
    head += "|---" * (len(classes) + 5) + "|\n"
    body = "".join(
        f"| {r.name} | {100 * r.miou:.1f} | {100 * r.pixel_acc:.1f} | "
        + " | ".join(f"{100 * r.class_iou[c]:.1f}" if r.class_iou[c] is not None else "n/a"
                     for c in classes)
        + f" | {r.cpu_ms_480x640:.0f} | {r.params_m:.1f} |\n" for r in rows)
    setup = (f"{args.train_scenes} training and {args.val_scenes} held-out scenes of "
             f"{args.height}x{args.width}, {args.steps} AdamW steps of batch {args.batch} "
             "per variant, from scratch, 1 CPU thread; CPU ms: median process CPU time of "
             f"{args.repeats} forward passes of a 480x640 frame after a warm-up, batch 1, "
             "1 thread, on a shared 2-core machine (the wall clock there was several times "
             "longer under other jobs' load)")
    cmd = COMMAND + "".join(f" --score-json {p}" for p in args.score_json)
    return PAGE.format(command=cmd, setup=setup, table=head + body,
                       scores=_score_table(args.score_json))


def _score_table(paths: list[str]) -> str:
    """Rows of ``semseg score --json`` reports (the 3DGNN predictions)."""
    if not paths:
        return "(run the commands above and pass their reports with `--score-json`)\n"
    out = "| predictions | images | mIoU % | pixel acc % | mean acc % |\n|---|---|---|---|---|\n"
    for path in paths:
        r = json.loads(Path(path).read_text())
        out += (f"| `{Path(r['predictions']).name}` | {r['images']} | {100 * r['miou']:.2f} | "
                f"{100 * r['pixel_acc']:.2f} | {100 * r['mean_acc']:.2f} |\n")
    return out


PAGE = """\
# RGB-D segmentation: depth fusion, 3D graph reasoning, scoring published predictions

<!-- Generated by benchmarks/rgbd_compare.py; edit that script, not this page. -->

What semseg has for RGB-D input (NYUv2 `nyuv2`, SUN RGB-D `sunrgbd` and `sunrgbd_official`:
4-channel RGB + depth, see [datasets.md](datasets.md)):

- `semseg.data.geometry`: back-projection with camera intrinsics (NYUv2's built in), surface
  normals, gravity estimation and the HHA encoding (disparity, height, angle with gravity).
- `esanet`: two ResNet-18 encoders (colour, depth) fused after every stage with ESANet's
  squeeze-and-excitation fusion; `depth_channels=0` gives the same network with one encoder, the
  RGB-only or early-fusion (4 channels into one encoder) baseline.
- `gnn3d` / `semseg train --graph-head knn3d`: the 3DGNN head of Qi et al. (ICCV 2017) over any
  registered model: k-nearest-neighbour graph in 3D (chunked, never N x N), mean-of-MLP messages,
  GRU updates for T steps, classifier on [h0; hT] added to the unary logits (T = 0 is the
  unary network exactly). Exports to ONNX at a fixed input size.
- `semseg score PRED_DIR GT_DIR`: score anyone's prediction PNGs with value maps on either side,
  with the same report as `semseg eval`.

## Fusion variants on synthetic rooms

**The data is synthetic.** No RGB-D training set is reachable from this machine (three labelled
NYUv2 frames are, too few to train on). `semseg.data.synthetic_rgbd` ray-casts box rooms
(wall, floor, ceiling, a floating table top, a cabinet) from random camera poses; every surface
takes its colour from one shared palette whatever its class, so colour says nothing about the
class and geometry (height, orientation) says everything. It shows whether depth reaches the
classifier, not how the variants rank on real rooms.

{setup}.

{table}
Command:

```
{command}
```

![a synthetic scene: RGB, depth, HHA, labels](images/rgbd_synthetic.png)

## Scoring published predictions: 3DGNN on NYUv2, 13 classes

The official 3DGNN test predictions (xjqicuhk/3DGNN `result/nyu_40/` single-scale and
`result/nyu_40_msc/` multi-scale, 654 PNGs each, pixel value = 40-class id - 1) against the public
13-class ground truth (ankurhanda/nyuv2-meta-data `test_labels_13/nyuv2_test_class13.tgz`,
`new_nyu_class13_NNNN.png`, 1..13 with 0 = unlabelled):

```
semseg score 3DGNN/result/nyu_40 test_labels_13 --classes nyuv2_13 \\
    --pred-pattern '{{id}}.png' --gt-pattern 'new_nyu_class13_{{id}}.png' \\
    --pred-map 'nyuv2->nyuv2_13' --gt-map offset:-1 --json 3dgnn_nyu40.json
```

`--pred-map nyuv2->nyuv2_13` maps the 0-based 40-class ids to the 13 classes
(`class13Mapping.mat`); `--gt-map offset:-1` makes the ground truth 0-based with 0 ignored. The
multi-scale set is scored the same way into `3dgnn_nyu40_msc.json`.

{scores}
"""


def save_picture(path: str, size: tuple[int, int]) -> None:
    """RGB | depth | HHA | labels of one held-out scene, side by side."""
    from semseg.data.geometry import hha
    from semseg.fileio.images import save_image

    scene = render_scene(np.random.default_rng(1), *size)
    depth = np.clip(scene.depth / 8.0 * 255, 0, 255).astype(np.uint8)
    panels = [scene.rgb, np.repeat(depth[..., None], 3, 2), hha(scene.depth, scene.intrinsics),
              np.array(INFO.palette, np.uint8)[scene.labels]]
    save_image(path, np.concatenate(panels, axis=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="write the markdown page here (docs/rgbd.md)")
    p.add_argument("--json", help="write the raw rows here")
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--train-scenes", type=int, default=200)
    p.add_argument("--val-scenes", type=int, default=50)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--picture", help="write a scene picture here (docs/images/rgbd_synthetic.png)")
    p.add_argument("--score-json", action="append", default=[],
                   help="a `semseg score --json` report to list (repeatable)")
    args = p.parse_args(argv)
    if args.picture:
        save_picture(args.picture, (240, 320))
    rows = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    page = render(rows, args)
    if args.out:
        Path(args.out).write_text(page)
    else:
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
