"""Does a per-class logit offset (a decision prior) raise mIoU on frames it was not fitted on?

A model trained with plain cross-entropy under-predicts thin, rare classes (CamVid pole: 10.7
IoU for the transferred ESPNetv2). Adding ``b_c`` to class ``c``'s logit before the argmax moves
the decision boundary toward it. The offsets are fitted by coordinate ascent on mIoU
(``semseg.training.offsets``), and the gain is reported by 2-fold cross-validation on the split:
fit on the even frames, score the odd ones, and the other way round, so every reported number
comes from frames the offsets never saw. The offsets fitted on the whole split are printed too;
``--apply`` folds offsets into a checkpoint's classifier bias and writes it as fp16 safetensors
(``--apply-to`` another checkpoint than the one they were fitted on: the release protocol fits
them on val with the train-only model and applies them to the train+val model).

Run from the repository root (logits come from the one inference path, ``predict_logits``):

    PYTHONPATH=src python benchmarks/class_bias.py \
        checkpoints/espnetv2-city-camvid-train.safetensors --split val --threads 1
    PYTHONPATH=src python benchmarks/class_bias.py TRAIN_ONLY.pt --apply OUT.safetensors \
        --apply-to RELEASE.pt
"""

from __future__ import annotations

import argparse
import json

import torch

from semseg.data import get_format
from semseg.data.transforms import eval_transform
from semseg.hub.checkpoint import load_model, save_release
from semseg.hub.loading import load
from semseg.inference.segmenter import InferenceOptions, predict_logits
from semseg.metrics.confusion import class_iou, mean_iou
from semseg.training.offsets import fit_offsets, fold_offsets, offset_confusion


def collect(model_path: str, data: str, split: str, fmt: str) -> tuple[list, list, list[str]]:
    """fp16 logits (K, H, W) and masks (H, W) of every frame of the split."""
    model, spec = load(model_path)
    source = next(s for s in get_format(fmt).splits(data) if s.split == split)
    ds = source.dataset(eval_transform)
    logits, masks = [], []
    with torch.inference_mode():
        for i in range(len(ds)):
            image, mask = ds[i]
            out = predict_logits(model, image[None], spec.info,
                                 InferenceOptions(input_size=spec.input_size))
            logits.append(out[0, :spec.info.num_classes].half())
            masks.append(torch.as_tensor(mask))
    return logits, masks, list(spec.info.classes)


def apply(offsets: torch.Tensor, source: str, out: str) -> str:
    """Fold ``offsets`` into the checkpoint ``source`` and write it to ``out``; the layer name."""
    model, spec, meta = load_model(source)
    layer = fold_offsets(model, offsets, in_channels=spec.in_channels)
    metrics = dict(meta.get("metrics") or {})
    metrics["class_offsets"] = [round(float(b), 4) for b in offsets]
    save_release(out, model, spec, metrics)
    return layer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", default="../shared/data/camvid")
    p.add_argument("--format", default="camvid")
    p.add_argument("--split", default="val")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write the result here")
    p.add_argument("--apply", metavar="OUT", help="fold the offsets fitted on the whole split "
                   "into the model (or --apply-to) and write fp16 safetensors here")
    p.add_argument("--apply-to", metavar="CHECKPOINT", help="fold into this checkpoint instead")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logits, masks, classes = collect(args.model, args.data, args.split, args.format)
    k = len(classes)
    folds = [list(range(0, len(logits), 2)), list(range(1, len(logits), 2))]
    zero = torch.zeros(k)
    held_out = {"plain": torch.zeros(k, k, dtype=torch.int64),
                "offsets": torch.zeros(k, k, dtype=torch.int64)}
    fitted = []
    for fit_idx, test_idx in (folds, folds[::-1]):
        bias = fit_offsets([logits[i] for i in fit_idx], [masks[i] for i in fit_idx])
        fitted.append([round(float(b), 2) for b in bias])
        test = ([logits[i] for i in test_idx], [masks[i] for i in test_idx])
        held_out["plain"] += offset_confusion(*test, zero)
        held_out["offsets"] += offset_confusion(*test, bias)
    whole = fit_offsets(logits, masks)
    in_sample = offset_confusion(logits, masks, whole)

    def per_class(cm: torch.Tensor) -> dict[str, float]:
        return {c: round(100 * float(v), 1) for c, v in zip(classes, class_iou(cm), strict=True)}

    result = {"model": args.model, "split": args.split, "frames": len(logits),
              "miou_plain": round(100 * mean_iou(held_out["plain"]), 2),
              "miou_offsets_2fold": round(100 * mean_iou(held_out["offsets"]), 2),
              "offsets_per_fold": dict(zip(("fit_even", "fit_odd"), fitted, strict=True)),
              "offsets_whole_split": [round(float(b), 2) for b in whole],
              "miou_offsets_in_sample": round(100 * mean_iou(in_sample), 2),
              "class_iou_plain": per_class(held_out["plain"]),
              "class_iou_offsets": per_class(held_out["offsets"])}
    if args.apply:
        result["applied"] = {"to": args.apply_to or args.model, "out": args.apply,
                             "layer": apply(whole, args.apply_to or args.model, args.apply)}
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
