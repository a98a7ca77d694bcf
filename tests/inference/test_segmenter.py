"""infer_logits paths (padding, input size, sliding window, TTA) and Segmenter on real files."""

import sys
import types
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError, InputFileError, SemsegError
from semseg.hub.checkpoint import ModelSpec, save_checkpoint, save_release
from semseg.inference.segmenter import Segmenter, infer_logits
from semseg.models import list_models, register_model

INFO = DatasetInfo("toy", ("bg", "fg", "edge"), ((0, 0, 0), (255, 0, 0), (0, 255, 0)))


class Pointwise(nn.Module):
    """A 1x1 convolution: every output pixel depends on its input pixel only."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Tiny(nn.Module):
    """Downsample 4x, 3x3 conv, upsample back: needs H, W divisible by 4 (checked)."""

    def __init__(self, num_classes: int, in_channels: int = 3, symmetric: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        if symmetric:  # kernels equal to their mirror image: the model commutes with h-flip
            with torch.no_grad():
                self.conv.weight.copy_(self.conv.weight + self.conv.weight.flip(-1))
        self.seen: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape[-2:]))
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise RuntimeError(f"Tiny needs H, W divisible by 4, got {tuple(x.shape)}")
        y = self.conv(nn.functional.avg_pool2d(x, 4))  # (N, K, H/4, W/4)
        return nn.functional.interpolate(y, scale_factor=4, mode="bilinear")


if "_test_inf_pointwise" not in list_models():
    register_model("_test_inf_pointwise")(Pointwise)
    register_model("_test_inf_tiny")(Tiny)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _segmenter(arch: str = "_test_inf_tiny", **spec_kw) -> Segmenter:
    torch.manual_seed(0)
    spec = ModelSpec(arch, INFO, **spec_kw)
    return Segmenter(spec.build(), spec)


@pytest.mark.parametrize("arch", ["_test_inf_tiny", "_test_inf_pointwise"])
def test_predict_odd_size_returns_image_sized_outputs(arch):
    seg = _segmenter(arch)
    res = seg.predict(_image(97, 131))
    assert res.mask.shape == (97, 131) and res.mask.dtype == np.int64
    assert res.probs.shape == (3, 97, 131) and res.probs.dtype == np.float32
    np.testing.assert_allclose(res.probs.sum(0), 1.0, atol=1e-5)
    assert (res.mask == res.probs.argmax(0)).all()
    assert res.image.shape == (97, 131, 3)


def test_padding_path_pads_to_stride_and_input_size_path_resizes():
    seg = _segmenter()
    x = torch.randn(2, 3, 97, 131)
    out = infer_logits(seg.model, x, stride=32)
    assert out.shape == (2, 3, 97, 131)
    assert seg.model.seen[-1] == (128, 160)
    out = infer_logits(seg.model, x, input_size=(64, 96))
    assert out.shape == (2, 3, 97, 131)
    assert seg.model.seen[-1] == (64, 96)
    spec_seg = _segmenter(input_size=(48, 64))
    assert spec_seg.predict(_image(97, 131)).mask.shape == (97, 131)
    assert spec_seg.model.seen[-1] == (48, 64)


def test_pointwise_model_same_logits_on_every_path():
    model = Pointwise(3).eval()
    x = torch.randn(1, 3, 50, 70)
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(infer_logits(model, x), ref)
    torch.testing.assert_close(infer_logits(model, x, stride=16), ref)


def test_sliding_window_equals_full_image_for_pointwise_model():
    model = Pointwise(3).eval()
    x = torch.randn(1, 3, 300, 410)
    with torch.no_grad():
        ref = model(x)
    out = infer_logits(model, x, window=(96, 128), overlap=0.5)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    small = torch.randn(1, 3, 40, 50)  # smaller than a tile: padded up, cropped back
    torch.testing.assert_close(infer_logits(model, small, window=(64, 64)), model(small).detach(),
                               atol=1e-5, rtol=1e-5)


def test_sliding_window_tiles_are_window_sized():
    model = Tiny(3).eval()
    infer_logits(model, torch.randn(1, 3, 200, 260), window=(64, 96), overlap=1 / 3)
    # Rows: step int(64 * 2/3) = 42, ceil((200 - 64) / 42) + 1 = 5 tiles (last at 136);
    # cols: step 64, ceil((260 - 96) / 64) + 1 = 4 tiles (last at 164, ending at 260).
    assert set(model.seen) == {(64, 96)}
    assert len(model.seen) == 5 * 4


def test_flip_tta_is_identity_for_a_flip_symmetric_model():
    model = Tiny(3, symmetric=True).eval()
    x = torch.randn(1, 3, 64, 96)
    plain = infer_logits(model, x).softmax(1)
    flipped = infer_logits(model, x, flip=True).softmax(1)
    torch.testing.assert_close(flipped, plain, atol=1e-5, rtol=1e-4)
    # The same check fails for an ordinary (asymmetric) model: the test can tell.
    torch.manual_seed(1)
    other = Tiny(3).eval()
    assert not torch.allclose(infer_logits(other, x, flip=True).softmax(1),
                              infer_logits(other, x).softmax(1), atol=1e-4)


def test_multi_view_returns_log_of_averaged_probabilities():
    model = Pointwise(3).eval()
    x = torch.ones(1, 3, 32, 48) * torch.tensor([0.3, -1.0, 2.0]).view(1, 3, 1, 1)
    # A constant image gives the same probabilities at every scale and flip.
    out = infer_logits(model, x, scales=(0.5, 1.0, 1.5), flip=True)
    torch.testing.assert_close(out, model(x).detach().log_softmax(1), atol=1e-5, rtol=1e-5)
    assert torch.allclose(out.exp().sum(1), torch.ones(1, 32, 48))


def test_infer_logits_restores_training_mode_and_rejects_bad_options():
    model = Pointwise(3).train()
    infer_logits(model, torch.randn(1, 3, 8, 8))
    assert model.training
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ConfigError, match="overlap"):
        infer_logits(model, x, window=(8, 8), overlap=1.0)
    with pytest.raises(ConfigError, match="scales"):
        infer_logits(model, x, scales=(0.0,))
    with pytest.raises(ConfigError, match="window"):
        infer_logits(model, x, window=(4, 4))


def test_extra_outputs_are_never_predicted():
    torch.manual_seed(0)
    spec = ModelSpec("_test_inf_pointwise", INFO, num_outputs=4)
    model = spec.build()
    with torch.no_grad():
        model.conv.bias[3] = 100.0  # the "ignore" output dominates every pixel
    res = Segmenter(model, spec).predict(_image(20, 30))
    assert res.probs.shape == (3, 20, 30)
    assert res.mask.max() <= 2
    np.testing.assert_allclose(res.probs.sum(0), 1.0, atol=1e-5)


def test_predict_accepts_path_pil_array_and_gray(tmp_path):
    seg = _segmenter("_test_inf_pointwise")
    img = _image(33, 45)
    Image.fromarray(img).save(tmp_path / "a.png")
    ref = seg.predict(img).probs
    np.testing.assert_allclose(seg.predict(tmp_path / "a.png").probs, ref)
    np.testing.assert_allclose(seg.predict(str(tmp_path / "a.png")).probs, ref)
    np.testing.assert_allclose(seg.predict(Image.fromarray(img)).probs, ref)
    assert seg.predict(img[..., 0]).mask.shape == (33, 45)
    with pytest.raises(ConfigError, match="uint8"):
        seg.predict(img.astype(np.float32))
    with pytest.raises(InputFileError, match="not found"):
        seg.predict(tmp_path / "missing.png")


def test_predict_batch_mixed_sizes_matches_single_predictions():
    seg = _segmenter()
    imgs = [_image(40, 60, 1), _image(70, 44, 2), _image(40, 60, 3)]
    batch = seg.predict_batch(imgs)
    assert seg.model.seen == [(64, 64), (96, 64)]  # the two 40x60 images shared one forward
    for img, res in zip(imgs, batch, strict=True):
        np.testing.assert_allclose(res.probs, seg.predict(img).probs, atol=1e-5)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_from_pretrained_loads_a_real_file_and_saves_outputs(tmp_path, suffix):
    seg = _segmenter()
    path = tmp_path / f"model{suffix}"
    if suffix == ".pt":
        save_checkpoint(path, seg.model, seg.spec, epoch=3)
    else:
        save_release(path, seg.model, seg.spec)
    loaded = Segmenter.from_pretrained(path)
    img = _image(97, 131)
    res = loaded.predict(img)
    np.testing.assert_allclose(res.probs, seg.predict(img).probs, atol=2e-2)  # fp16 release
    written = res.save(tmp_path / "out", "street", probs=True)
    names = sorted(p.name for p in written)
    assert names == ["street_color.png", "street_mask.png", "street_overlay.png",
                     "street_probs.npz"]
    mask_png = Image.open(tmp_path / "out" / "street_mask.png")
    assert mask_png.mode == "P" and (np.asarray(mask_png) == res.mask).all()
    probs = np.load(tmp_path / "out" / "street_probs.npz")
    assert probs["probs"].dtype == np.float16 and probs["probs"].shape == (3, 97, 131)
    assert list(probs["classes"]) == list(INFO.classes)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        Segmenter.from_pretrained(tmp_path / "nope.safetensors")
    with pytest.raises(SemsegError):
        Segmenter.from_pretrained("no-such-pretrained-model-xyz")


def test_mc_samples_glue_crops_renormalizes_and_fills_uncertainty(monkeypatch):
    calls = []

    def fake_mc(model, x, samples):  # stands in for semseg.inference.uncertainty.mc_dropout_predict
        calls.append((tuple(x.shape), samples))
        n, _, h, w = x.shape
        probs = torch.full((n, 4, h, w), 0.25)
        probs[:, 1] = 0.5
        probs[:, 3] = 0.0
        entropy = torch.arange(h * w, dtype=torch.float32).view(1, h, w).expand(n, h, w)
        variance = torch.ones(n, 4, h, w)
        return types.SimpleNamespace(mean_probs=probs, entropy=entropy, variance=variance)

    fake = types.ModuleType("semseg.inference.uncertainty")
    fake.mc_dropout_predict = fake_mc
    monkeypatch.setitem(sys.modules, "semseg.inference.uncertainty", fake)
    seg = _segmenter("_test_inf_pointwise")
    seg = Segmenter(seg.model, replace(seg.spec, num_outputs=4))
    res = seg.predict(_image(30, 50), mc_samples=7)
    assert calls == [((1, 3, 32, 64), 7)]  # padded to the stride-32 multiple
    assert (res.mask == 1).all()
    np.testing.assert_allclose(res.probs[:, 0, 0], [0.25, 0.5, 0.25])
    assert res.uncertainty["entropy"].shape == (30, 50)
    assert res.uncertainty["entropy"][1, 0] == 64  # row 1 of the padded 64-wide map
    assert (res.uncertainty["variance"] == 1).all()


def test_mc_dropout_with_the_real_module(tmp_path):
    seg = _segmenter()
    res = seg.predict(_image(36, 52), mc_samples=3)
    assert res.mask.shape == (36, 52)
    assert res.uncertainty["entropy"].shape == (36, 52)
    written = res.save(tmp_path, "u", probs=True)
    assert {tmp_path / "u_entropy.png", tmp_path / "u_variance.png"} <= set(written)
    with np.load(tmp_path / "u_probs.npz") as npz:
        for name in ("entropy", "variance"):
            np.testing.assert_allclose(npz[name], res.uncertainty[name], atol=1e-3, rtol=1e-3)


def test_zoo_unet_release_predicts_odd_sizes(tmp_path):
    if "unet" not in list_models():
        pytest.skip("unet is not registered in this build")
    torch.manual_seed(0)
    spec = ModelSpec("unet", INFO, arch_kwargs={"base_width": 8})
    path = save_release(tmp_path / "unet.safetensors", spec.build().eval(), spec)
    seg = Segmenter.from_pretrained(path)
    res = seg.predict(_image(97, 131), tta=True)
    assert res.mask.shape == (97, 131) and res.probs.shape == (3, 97, 131)
    np.testing.assert_allclose(res.probs.sum(0), 1.0, atol=1e-5)
    tiled = seg.predict(_image(97, 131), window=(64, 64))
    assert tiled.mask.shape == (97, 131)


def test_bundled_model_masks_equal_the_full_softmax_argmax(camvid_root) -> None:
    """The resize path (a model with a fixed network input): every class resized, then argmax."""
    from semseg.data.transforms import normalize_image
    from semseg.fileio.images import read_image
    from semseg.models.layers import resize_to

    seg = Segmenter.from_pretrained("camvid-litefpn")
    frames = sorted((camvid_root / "val").glob("*.png"))[::25][:4]
    for frame in frames:
        image = read_image(frame)
        result = seg.predict(image)
        x = normalize_image(image, seg.info)[None]
        with torch.inference_mode():  # the reference: every class resized, softmax, argmax
            logits = resize_to(seg.model(resize_to(x, seg.spec.input_size)), image.shape[:2])
        probs = logits.softmax(1)[0].numpy()
        # the argmax of every class's probability: equal up to exact near-ties (none here);
        # the resizes are OpenCV's (semseg.inference.segmenter.fast_resize), within 1e-4
        assert np.array_equal(result.mask, probs.argmax(0))
        np.testing.assert_allclose(result.probs, probs, atol=5e-5)


def test_result_probs_are_computed_once_on_first_read() -> None:
    from dataclasses import FrozenInstanceError

    from semseg.inference.result import SegmentationResult

    calls = []
    probs = np.full((3, 2, 2), 1 / 3, np.float32)

    def compute() -> np.ndarray:
        calls.append(1)
        return probs

    res = SegmentationResult(image=np.zeros((2, 2, 3), np.uint8), mask=np.zeros((2, 2), np.int64),
                             probs=compute, info=INFO)
    assert calls == []
    assert res.probs is probs and res.probs is probs and calls == [1]
    with pytest.raises(FrozenInstanceError):
        res.probs = probs  # type: ignore[misc]
    plain = SegmentationResult(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.int64), probs,
                               INFO)
    assert plain.probs is probs


@pytest.mark.parametrize(("src", "dst"), [((360, 480), (240, 320)), ((240, 320), (360, 480)),
                                          ((97, 131), (288, 384)), ((384, 480), (45, 61)),
                                          ((7, 5), (7, 9))])
def test_fast_resize_equals_torch_bilinear(src, dst) -> None:
    from semseg.inference.segmenter import fast_resize
    from semseg.models.layers import resize_to

    x = torch.randn(2, 4, *src, generator=torch.Generator().manual_seed(0)) * 10
    got = fast_resize(x, dst)
    assert got.shape == (2, 4, *dst) and got.dtype == torch.float32
    # OpenCV's interpolation weights are float approximations: within 1e-4 of the value range
    span = float(x.max() - x.min())
    torch.testing.assert_close(got, resize_to(x, dst), atol=1e-4 * span, rtol=0)
    x.requires_grad_(True)  # autograd, another dtype: torch's kernel (here: the same values)
    assert fast_resize(x, dst).grad_fn is not None
    assert fast_resize(x.detach().double(), dst).dtype == torch.float64
