"""Named pretrained models: where their weights come from and how to read their output.

Each entry knows its public URL and sha256, its architecture, classes, palette, normalization and
input size. ``load_pretrained(name)`` finds the weights in this order:

1. the user cache (``~/.cache/semseg``, or ``$SEMSEG_CACHE``), when the sha256 matches;
2. a local mirror directory (``weights_dir=`` or ``$SEMSEG_WEIGHTS_MIRROR``), looked up as
   ``<mirror>/<file>`` and ``<mirror>/<family>/<file>``, verified and copied into the cache;
3. the network (skipped when ``$SEMSEG_OFFLINE`` is set), with a progress bar, verified, renamed
   into the cache atomically.

Weights are PyTorch state dicts (ESPNetv2), semseg safetensors (``default``) or TensorFlow Lite
flatbuffers (DeepLabv3, MOSAIC, EdgeTPU-DeepLab), which are dequantized and loaded into semseg's
own modules on every load (``semseg.models.tflite_import``, about a second).

A file whose sha256 does not match is never loaded: a bad cached copy is moved aside to
``<file>.corrupt`` and fetched again. When nothing works, one ``ModelError`` line says which file
to put where.

Example:
    >>> model, spec = load_pretrained("espnetv2-voc")
    >>> spec.info.classes[15]
    'person'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from semseg.data.ade20k import TOP31_INFO as ADE20K_TOP31_INFO
from semseg.data.camvid import INFO as CAMVID_INFO
from semseg.data.cityscapes import INFO as CITYSCAPES_INFO
from semseg.data.info import DatasetInfo
from semseg.data.voc import INFO as VOC_INFO
from semseg.errors import ModelError
from semseg.fileio.images import atomic_write
from semseg.hub.checkpoint import ModelSpec

CACHE_ENV = "SEMSEG_CACHE"
MIRROR_ENV = "SEMSEG_WEIGHTS_MIRROR"
OFFLINE_ENV = "SEMSEG_OFFLINE"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "weights"
CHUNK = 1 << 16

EDGENETS = "https://github.com/sacmehta/EdgeNets/raw/master/model/segmentation/model_zoo/espnetv2"
CORAL = "https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41"
MOSAIC_URL = ("https://github.com/mlcommons/mobile_open/raw/86a873714efd6cb391c3a4751e3bb7b8f91b1449/"
              "vision/mosaic/models_and_checkpoints/R4/mobile_segmenter_r4_quant_argmax_uint8.tflite")
TF_DEEPLAB = "tensorflow/models deeplab model zoo (8-bit), via google-coral/test_data@104342d2"
DEEPLABV3_PAPER = ("Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation, "
                   "2017; Sandler et al., MobileNetV2, CVPR 2018")
# The TensorFlow models take RGB scaled to [-1, 1]: (x / 255 - 0.5) / 0.5 = x / 127.5 - 1.
TF_NORM = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
VOC_TF_INFO = replace(VOC_INFO, **TF_NORM)
CITYSCAPES_TF_INFO = replace(CITYSCAPES_INFO, **TF_NORM)
ESPNETV2_PAPER = ("Mehta et al., ESPNetv2: A Light-weight, Power Efficient, and General Purpose "
                  "Convolutional Neural Network, CVPR 2019")


@dataclass(frozen=True)
class PretrainedEntry:
    """One named pretrained model: weights file, provenance, architecture and label set."""

    name: str
    file_name: str
    info: DatasetInfo
    arch: str = ""  # empty for bundled files, whose header holds the full ModelSpec
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None  # (H, W) the model was trained at
    num_outputs: int | None = None  # logits channels when != len(info.classes)
    url: str = ""
    sha256: str = ""
    license: str = ""
    paper: str = ""
    source: str = ""  # where the weights were published
    description: str = ""
    family: str = ""  # mirror sub-folder, e.g. "espnetv2"
    bundled: bool = False  # shipped inside the package (src/semseg/weights/)

    def spec(self) -> ModelSpec:
        """The ``ModelSpec`` that rebuilds this entry's architecture."""
        return ModelSpec(arch=self.arch, info=self.info, arch_kwargs=dict(self.arch_kwargs),
                         input_size=self.input_size, num_outputs=self.num_outputs)


_ENTRIES: dict[str, PretrainedEntry] = {
    e.name: e
    for e in (
        PretrainedEntry(
            name="espnetv2-voc",
            file_name="espnetv2_s_2.0_pascal_384x384.pth",
            info=VOC_INFO,
            arch="espnetv2",
            arch_kwargs={"s": 2.0},
            input_size=(384, 384),
            url=f"{EDGENETS}/espnetv2_s_2.0_pascal_384x384.pth",
            sha256="bc479586b0ba9254e02589020346931a14d99028ad6bac4817198be6d9e719a6",
            license="MIT",
            paper=ESPNETV2_PAPER,
            source="sacmehta/EdgeNets@2b232d3f model zoo",
            description="PASCAL VOC 2012, 20 objects + background; 67.0 mIoU on VOC val (reported)",
            family="espnetv2",
        ),
        PretrainedEntry(
            name="espnetv2-cityscapes",
            file_name="espnetv2_s_2.0_city_1024x512.pth",
            info=CITYSCAPES_INFO,
            arch="espnetv2",
            arch_kwargs={"s": 2.0},
            input_size=(512, 1024),
            num_outputs=20,  # output 19 was trained on the void/ignore pixels
            url=f"{EDGENETS}/espnetv2_s_2.0_city_1024x512.pth",
            sha256="a72d59699801c7ce8e8b89a53af9097eaaa60dc12180ecde86fd700ba1222fe8",
            license="MIT",
            paper=ESPNETV2_PAPER,
            source="sacmehta/EdgeNets@2b232d3f model zoo",
            description="Cityscapes, 19 classes (+1 void output); 66.4 mIoU on Cityscapes val "
            "(reported)",
            family="espnetv2",
        ),
        PretrainedEntry(
            name="deeplabv3-mnv2-voc",
            file_name="deeplabv3_mnv2_pascal_quant.tflite",
            info=VOC_TF_INFO,
            arch="deeplabv3_mobilenetv2",
            input_size=(513, 513),
            url=f"{CORAL}/deeplabv3_mnv2_pascal_quant.tflite",
            sha256="350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f249398",
            license="Apache-2.0",
            paper=DEEPLABV3_PAPER,
            source=TF_DEEPLAB,
            description="PASCAL VOC 2012 (COCO + VOC train_aug), 20 objects + background; "
            "74.3 mIoU on VOC val (reported, 8-bit)",
            family="tflite",
        ),
        PretrainedEntry(
            name="deeplabv3-mnv2-0.5-voc",
            file_name="deeplabv3_mnv2_dm05_pascal_quant.tflite",
            info=VOC_TF_INFO,
            arch="deeplabv3_mobilenetv2",
            arch_kwargs={"width_mult": 0.5, "divisor": 1},
            input_size=(513, 513),
            url=f"{CORAL}/deeplabv3_mnv2_dm05_pascal_quant.tflite",
            sha256="0470d2a782aa54eeeb99d32e7b6b3fb7722905c7c4f5d26bd957ec861366d48b",
            license="Apache-2.0",
            paper=DEEPLABV3_PAPER,
            source=TF_DEEPLAB,
            description="PASCAL VOC 2012, MobileNetV2 width 0.5; 69.7 mIoU on VOC val (reported)",
            family="tflite",
        ),
        PretrainedEntry(
            name="mosaic-ade20k",
            file_name="mosaic_r4_ade20k32_uint8.tflite",
            info=ADE20K_TOP31_INFO,
            arch="mosaic",
            input_size=(512, 512),
            url=MOSAIC_URL,
            sha256="da8b3822a22fde45ecaf0ff32022287eff58b500096971b04f3c1b292da66a3c",
            license="Apache-2.0",
            paper="Wang et al., MOSAIC: Mobile Segmentation via decoding Aggregated Information "
            "and encoded Context, arXiv 2112.11623, 2021",
            source="mlcommons/mobile_open@86a87371 (MLPerf mobile v2.0 segmentation model R4)",
            description="ADE20K scene parsing, the 31 most frequent classes + other; 60.1 mIoU "
            "on ADE20K-top31 (reported, 8-bit)",
            family="tflite",
        ),
        PretrainedEntry(
            name="deeplab-edgetpu-cityscapes",
            file_name="deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite",
            info=CITYSCAPES_TF_INFO,
            arch="deeplabv3_edgetpu",
            input_size=(513, 513),
            url=f"{CORAL}/deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite",
            sha256="322fe29945cb1693f426952f2a330ab67ea5678545ddee6f2548e0cfd0ca03e5",
            license="Apache-2.0",
            paper="Chen et al., DeepLabv3, 2017; Gupta & Akin, MobileNet-EdgeTPU, 2020",
            source=TF_DEEPLAB,
            description="Cityscapes, 19 classes; about 70 mIoU on Cityscapes val (reported, float)",
            family="tflite",
        ),
        PretrainedEntry(
            name="default",
            file_name="camvid_default.safetensors",
            info=CAMVID_INFO,
            license="MIT",
            source="shipped with semseg (src/semseg/weights/MODEL_CARD.md)",
            description="CamVid road scenes, 11 classes; ESPNetv2 from Cityscapes, trained on "
                        "CamVid train+val: the package's built-in model",
            bundled=True,
        ),
        PretrainedEntry(
            name="camvid-litefpn",
            file_name="camvid_litefpn.safetensors",
            info=CAMVID_INFO,
            input_size=(240, 320),  # shown by `semseg pretrained list`; the file's header rules
            license="MIT",
            source="shipped with semseg (src/semseg/weights/MODEL_CARD_camvid_litefpn.md)",
            description="CamVid road scenes, 11 classes; LiteFPN at 240x320, the fast model "
                        "(68.0 val mIoU; the default before 0.2)",
            bundled=True,
        ),
        PretrainedEntry(
            name="camvid-fast",
            file_name="camvid_fast.safetensors",
            info=CAMVID_INFO,
            input_size=(288, 384),  # shown by `semseg pretrained list`; the file's header rules
            license="MIT",
            source="shipped with semseg (src/semseg/weights/MODEL_CARD_camvid_fast.md)",
            description="CamVid road scenes, 11 classes; LiteFPN at 288x384 distilled from the "
                        "default's ESPNetv2: about 5x faster end to end, 1.6 val mIoU lower",
            bundled=True,
        ),
    )
}


def list_pretrained() -> list[str]:
    """Names of the pretrained models, sorted."""
    return sorted(_ENTRIES)


def pretrained_entry(name: str) -> PretrainedEntry:
    """The entry called ``name``; raises ``ModelError`` listing the known names."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ModelError(
            f"unknown pretrained model {name!r}; available: {', '.join(list_pretrained())}"
        ) from None


def cache_dir() -> Path:
    """Where downloaded weights live: ``$SEMSEG_CACHE`` or ``~/.cache/semseg``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semseg"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, entry: PretrainedEntry) -> bool:
    return not entry.sha256 or sha256_of(path) == entry.sha256


def _mirror_candidates(entry: PretrainedEntry, weights_dir: str | os.PathLike | None) -> list[Path]:
    root = weights_dir if weights_dir is not None else os.environ.get(MIRROR_ENV)
    if not root:
        return []
    base = Path(root).expanduser()
    names = [base / entry.file_name]
    if entry.family:
        names.append(base / entry.family / entry.file_name)
    return [p for p in names if p.is_file()]


def _set_aside(path: Path) -> str:
    """Move a corrupt cached file out of the way; returns a note for the error message."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        return f"cached {path} failed its sha256 check (moved to {aside})"
    except OSError:
        path.unlink(missing_ok=True)
        return f"cached {path} failed its sha256 check (removed)"


def _copy_into_cache(src: Path, dest: Path) -> Path:
    try:
        return atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))
    except OSError:
        return src  # read-only cache: use the verified mirror file in place


def _download(url: str, dest: Path, expected: str) -> Path:
    """Fetch ``url`` with a progress bar into ``dest`` atomically; the sha256 must match."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    def write(tmp: Path) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as out:
            print(f"semseg: downloading {url}", file=sys.stderr)
            total = int(resp.headers.get("Content-Length") or 0) or None
            columns = (TextColumn(dest.name), BarColumn(), DownloadColumn(), TransferSpeedColumn())
            with Progress(*columns, transient=True) as bar:
                task = bar.add_task("download", total=total)
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.advance(task, len(chunk))
        if expected and digest.hexdigest() != expected:
            raise ModelError(f"{url}: downloaded file has sha256 {digest.hexdigest()}, "
                             f"expected {expected}; not used")

    return atomic_write(dest, write)


def resolve_weights(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Path of verified weights for ``name``: cache, then mirror, then download."""
    entry = pretrained_entry(name)
    if entry.bundled:
        path = BUNDLED_DIR / entry.file_name
        if not path.is_file():
            raise ModelError(f"pretrained model {name!r}: bundled weights {path} are missing "
                             "(this semseg build ships without them; reinstall the package)")
        return path
    cached = cache_dir() / entry.file_name
    notes: list[str] = []
    if cached.is_file():
        if _verified(cached, entry):
            return cached
        notes.append(_set_aside(cached))
    for candidate in _mirror_candidates(entry, weights_dir):
        if _verified(candidate, entry):
            return _copy_into_cache(candidate, cached)
        notes.append(f"mirror file {candidate} has the wrong sha256 (not used)")
    if not os.environ.get(OFFLINE_ENV):
        try:
            return _download(entry.url, cached, entry.sha256)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            notes.append(f"download failed: {getattr(exc, 'reason', exc)}")
    else:
        notes.append(f"download skipped (${OFFLINE_ENV} is set)")
    raise ModelError(
        f"pretrained model {name!r}: weights file {entry.file_name} not available "
        f"({'; '.join(notes)}); download {entry.url} (sha256 {entry.sha256}) and place it at "
        f"{cached} or in the folder named by ${MIRROR_ENV}"
    )


def _load_state_dict(path: Path, spec: ModelSpec) -> nn.Module:
    from semseg.hub.checkpoint import build_with_weights, load_weights_only, refusal

    try:
        state = load_weights_only(path)
    except Exception as exc:  # torch raises many types for corrupt, foreign or refused files
        raise ModelError(f"{path}: {refusal(exc)}") from None
    return build_with_weights(spec, state, path)


def _load_tflite(path: Path, spec: ModelSpec) -> nn.Module:
    """Convert a TFLite flatbuffer into the spec's PyTorch module (dequantized, under 1 s)."""
    from semseg.fileio.tflite import read_tflite
    from semseg.models.tflite_import import load_tflite_weights

    return load_tflite_weights(spec.build(), read_tflite(path))


def load_pretrained(
    name: str, weights_dir: str | os.PathLike | None = None
) -> tuple[nn.Module, ModelSpec]:
    """Build the named pretrained model in eval mode with its weights; returns (model, spec)."""
    entry = pretrained_entry(name)
    path = resolve_weights(name, weights_dir)
    if path.suffix == ".safetensors":
        from semseg.hub.checkpoint import load_model

        model, spec, _ = load_model(path)
        return model, spec
    spec = entry.spec()
    if path.suffix == ".tflite":
        return _load_tflite(path, spec), spec
    return _load_state_dict(path, spec), spec
