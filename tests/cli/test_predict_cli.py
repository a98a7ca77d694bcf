"""``semseg predict`` end to end on real files: outputs, videos, and errors that write nothing."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from semseg.cli import main
from semseg.data.info import DatasetInfo
from semseg.hub.checkpoint import ModelSpec, save_release
from semseg.models import list_models, register_model

INFO = DatasetInfo("toy", ("bg", "person", "car"), ((0, 0, 0), (220, 20, 60), (0, 0, 142)))


class Pointwise(nn.Module):
    """A 1x1 convolution: predicts from each pixel's colour alone."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PointwiseDropout(Pointwise):
    """``Pointwise`` with dropout on its input: Monte-Carlo samples disagree."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__(num_classes, in_channels)
        self.drop = nn.Dropout2d(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.drop(x))


if "_test_cli_pointwise" not in list_models():
    register_model("_test_cli_pointwise")(Pointwise)
if "_test_cli_pointwise_dropout" not in list_models():
    register_model("_test_cli_pointwise_dropout")(PointwiseDropout)


@pytest.fixture
def model_path(tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec("_test_cli_pointwise", INFO)
    return save_release(tmp_path / "toy.safetensors", spec.build(), spec)


def _write_image(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    return [_write_image(folder / "a.png", 97, 131, 1), _write_image(folder / "b.jpg", 40, 52, 2)]


def _run(*argv) -> int:
    return main(["predict", *map(str, argv)])


def test_predict_images_writes_all_outputs(model_path, images, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(model_path, *images, "-o", out, "--probs", "--alpha", "0.3") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{s}_{k}" for s in "ab" for k in
                           ("mask.png", "color.png", "overlay.png", "probs.npz"))
    mask = Image.open(out / "a_mask.png")
    assert mask.mode == "P" and mask.size == (131, 97)
    assert Image.open(out / "b_color.png").size == (52, 40)
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("predicted 2 image(s)")


def test_uncertainty_writes_entropy_and_variance(images, tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec("_test_cli_pointwise_dropout", INFO)
    model = spec.build()
    with torch.no_grad():
        model.conv.weight.mul_(20.0)  # confident per sample, so dropout flips the class
    path = save_release(tmp_path / "drop.safetensors", model, spec)
    out = tmp_path / "out"
    assert _run(path, images[0], "-o", out, "--uncertainty", "--mc-samples", "8", "--probs") == 0
    assert {"a_entropy.png", "a_variance.png"} <= {p.name for p in out.iterdir()}
    assert Image.open(out / "a_variance.png").size == (131, 97)
    with np.load(out / "a_probs.npz") as npz:
        entropy, variance = npz["entropy"].astype(np.float64), npz["variance"].astype(np.float64)
    k = len(INFO.classes)
    assert entropy.shape == variance.shape == (97, 131)
    assert entropy.min() >= 0 and entropy.max() <= np.log(k) + 1e-3
    assert variance.min() >= 0 and variance.max() <= (k - 1) / k**2 + 1e-3
    assert variance.max() > 0.01  # the samples really disagree somewhere


def test_predict_folder_and_quoted_glob(model_path, images, tmp_path):
    assert _run(model_path, images[0].parent, "-o", tmp_path / "o1") == 0
    assert (tmp_path / "o1" / "a_overlay.png").is_file()
    assert (tmp_path / "o1" / "b_overlay.png").is_file()
    assert _run(model_path, str(images[0].parent / "*.png"), "-o", tmp_path / "o2") == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir())[0] == "a_color.png"
    assert not (tmp_path / "o2" / "b_mask.png").exists()


def test_predict_tta_window_and_class_filter(model_path, images, tmp_path):
    out = tmp_path / "out"
    args = ["--tta", "--scales", "0.5,1", "--window", "32x48", "--classes", "person,car"]
    assert _run(model_path, images[0], "-o", out, *args) == 0
    assert Image.open(out / "a_mask.png").size == (131, 97)


def _assert_failed_cleanly(code, capsys, out, *needles):
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("semseg predict: error:")
    for needle in needles:
        assert needle in err
    assert not out.exists() or not any(out.iterdir())


def test_missing_input_among_good_ones_writes_nothing(model_path, images, tmp_path, capsys):
    out = tmp_path / "out"
    code = _run(model_path, images[0], tmp_path / "missing.png", images[1], "-o", out)
    _assert_failed_cleanly(code, capsys, out, "missing.png", "not found")


def test_corrupt_image_among_good_ones_writes_nothing(model_path, images, tmp_path, capsys):
    bad = tmp_path / "imgs" / "c.png"
    bad.write_bytes(images[0].read_bytes()[:200])  # a truncated PNG
    out = tmp_path / "out"
    _assert_failed_cleanly(_run(model_path, images[0].parent, "-o", out), capsys, out, "c.png")


def test_failure_keeps_existing_outputs(model_path, images, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_mask.png").write_bytes(b"previous result")
    code = _run(model_path, images[0], tmp_path / "missing.png", "-o", out)
    assert code == 2
    assert (out / "a_mask.png").read_bytes() == b"previous result"
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png"]


def test_unknown_class_lists_valid_names(model_path, images, tmp_path, capsys):
    out = tmp_path / "out"
    code = _run(model_path, *images, "-o", out, "--classes", "person,bus")
    _assert_failed_cleanly(code, capsys, out, "'bus'", "bg, person, car")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--window", "big"], "--window"),
        (["--scales", "1,x"], "--scales"),
        (["--alpha", "2"], "--alpha"),
        (["-o", "{tmp}/x.mp4"], ".mp4"),
    ],
)
def test_bad_options_exit_2(model_path, images, tmp_path, capsys, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv = [model_path, images[0], *args] + ([] if "-o" in args else ["-o", tmp_path / "out"])
    _assert_failed_cleanly(_run(*argv), capsys, tmp_path / "out", needle)


def test_same_stem_inputs_are_rejected(model_path, images, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    dup = _write_image(other / "a.png", 20, 20)
    out = tmp_path / "out"
    _assert_failed_cleanly(_run(model_path, images[0], dup, "-o", out), capsys, out, "'a'")


def test_unknown_model_and_camera_errors(images, tmp_path, capsys):
    out = tmp_path / "out"
    _assert_failed_cleanly(_run(tmp_path / "none.safetensors", images[0], "-o", out), capsys,
                           out, "none.safetensors")
    model = save_release(tmp_path / "m.safetensors", Pointwise(3),
                         ModelSpec("_test_cli_pointwise", INFO))
    _assert_failed_cleanly(_run(model, "--camera", "97", "-o", out), capsys, out, "camera 97")


def _write_video(path, frames=10, size=(48, 64)):
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, : (i + 1) * w // frames] = (0, 0, 255)  # a red bar growing (BGR)
        writer.write(frame)
    writer.release()
    return path


def _video_frames(path):
    cap = cv2.VideoCapture(str(path))
    count, size = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        count, size = count + 1, frame.shape[:2]
    cap.release()
    return count, size


def test_video_to_overlay_video(model_path, tmp_path, capsys):
    video = _write_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert _run(model_path, video, "-o", out, "--batch-size", "3") == 0
    assert _video_frames(out / "clip_overlay.mp4") == (10, (48, 64))
    printed = capsys.readouterr().out
    assert "10 frames at" in printed and "frames/s" in printed
    single = tmp_path / "single.mp4"
    assert _run(model_path, video, "-o", single) == 0
    assert _video_frames(single) == (10, (48, 64))


def test_video_overlay_keeps_rgb_order(tmp_path):
    # A model that always predicts "person" (220, 20, 60) over a black video, alpha 1:
    # the written frames must read back as that colour, not its BGR mirror.
    model = Pointwise(3)
    with torch.no_grad():
        model.conv.weight.zero_()
        model.conv.bias.copy_(torch.tensor([0.0, 10.0, 0.0]))
    path = save_release(tmp_path / "p.safetensors", model, ModelSpec("_test_cli_pointwise", INFO))
    video = tmp_path / "black.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert _run(path, video, "-o", tmp_path / "o.mp4", "--alpha", "1") == 0
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    ok, frame = cap.read()
    cap.release()
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)[24, 32].astype(int)
    assert ok and np.abs(rgb - [220, 20, 60]).max() <= 12  # mp4v is lossy


def test_animated_gif_gives_its_first_frame(model_path, tmp_path):
    """Any format Pillow decodes is an image input; an animated GIF is its first frame."""
    first = np.zeros((30, 40, 3), np.uint8)
    first[:, :20] = (220, 20, 60)  # left half red, right half black
    second = np.full((30, 40, 3), 255, np.uint8)
    gif = tmp_path / "anim.gif"
    Image.fromarray(first).save(gif, save_all=True, append_images=[Image.fromarray(second)],
                                duration=100, loop=0)
    assert Image.open(gif).n_frames == 2
    out = tmp_path / "out"
    assert _run(model_path, gif, "-o", out) == 0
    mask = np.asarray(Image.open(out / "anim_mask.png"))
    assert mask.shape == (30, 40)
    # a pointwise model labels by colour: two colours in frame 0 (red | black) -> two labels
    # on the two halves, where the white second frame would give one label everywhere
    left, right = np.unique(mask[:, :20]), np.unique(mask[:, 20:])
    assert len(left) == 1 and len(right) == 1 and left[0] != right[0]


def test_model_may_be_left_out(images, tmp_path, model_path):
    """`semseg predict photo.jpg -o out/` means semseg.segment's default model."""
    from semseg.cli.predict import default_model_if_left_out
    from semseg.inference.oneliner import DEFAULT_MODEL

    a, b = map(str, images)
    assert default_model_if_left_out(a, [b]) == (DEFAULT_MODEL, [a, b])
    assert default_model_if_left_out(str(images[0].parent), []) == (
        DEFAULT_MODEL, [str(images[0].parent)])
    assert default_model_if_left_out(str(tmp_path / "imgs" / "*.png"), []) == (
        DEFAULT_MODEL, [str(tmp_path / "imgs" / "*.png")])
    # a model file or a name stays the model
    assert default_model_if_left_out(str(model_path), [a]) == (str(model_path), [a])
    assert default_model_if_left_out("default", [a]) == ("default", [a])
    assert default_model_if_left_out("missing.jpg", [a]) == ("missing.jpg", [a])


def _colour_model(tmp_path):
    """Pointwise model labelling a pixel by its strongest channel: red 0, green 1, blue 2."""
    model = Pointwise(3)
    with torch.no_grad():
        model.conv.weight.copy_(torch.eye(3)[:, :, None, None])
        model.conv.bias.zero_()
    return save_release(tmp_path / "rgb.safetensors", model, ModelSpec("_test_cli_pointwise", INFO))


def _write_gif(path, durations=(200, 200, 200)):
    """Three distinct 48x64 frames: red; green; blue left half | red right half."""
    frames = [np.zeros((48, 64, 3), np.uint8) for _ in range(3)]
    frames[0][:] = (255, 0, 0)
    frames[1][:] = (0, 255, 0)
    frames[2][:, :32], frames[2][:, 32:] = (0, 0, 255), (255, 0, 0)
    pil = [Image.fromarray(f) for f in frames]
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=list(durations), loop=0)
    return path


# Overlay colours at alpha 1 (the INFO palette): label 0 black, 1 (220, 20, 60), 2 (0, 0, 142).
EXPECTED_GIF_OVERLAYS = [
    ([0, 0, 0], [0, 0, 0]), ([220, 20, 60], [220, 20, 60]), ([0, 0, 142], [0, 0, 0])]


def test_gif_to_mp4_segments_every_frame_at_the_gif_frame_rate(tmp_path, capsys):
    model, gif = _colour_model(tmp_path), _write_gif(tmp_path / "anim.gif")
    out = tmp_path / "out" / "anim.mp4"
    assert _run(model, gif, "-o", out, "--alpha", "1", "--batch-size", "2") == 0
    assert "3 frames at" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)  # 200 ms per GIF frame
    frames = []
    while (got := cap.read())[0]:
        frames.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB).astype(int))
    cap.release()
    assert len(frames) == 3
    for frame, (left, right) in zip(frames, EXPECTED_GIF_OVERLAYS, strict=True):
        assert np.abs(frame[24, 12] - left).max() <= 12  # mp4v is lossy; away from the edge
        assert np.abs(frame[24, 52] - right).max() <= 12


def test_gif_to_gif_keeps_frames_and_timing(tmp_path):
    model, gif = _colour_model(tmp_path), _write_gif(tmp_path / "anim.gif")
    out = tmp_path / "seg.gif"
    assert _run(model, gif, "-o", out, "--alpha", "1") == 0
    frames = []
    with Image.open(out) as img:
        assert img.n_frames == 3 and img.info["duration"] == 200
        for i in range(3):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB")).astype(int))
    for frame, (left, right) in zip(frames, EXPECTED_GIF_OVERLAYS, strict=True):
        assert (frame[:, :32] == left).all() and (frame[:, 32:] == right).all()
    # a GIF among other inputs (or with -o a folder) stays an image: its first frame
    assert _run(model, gif, "-o", tmp_path / "imgs") == 0
    mask = np.asarray(Image.open(tmp_path / "imgs" / "anim_mask.png"))
    assert (mask == 0).all()


def test_gif_video_output_needs_a_single_stream(model_path, tmp_path, capsys):
    gif = _write_gif(tmp_path / "anim.gif")
    other = _write_image(tmp_path / "b.png", 20, 20)
    out = tmp_path / "o.gif"
    _assert_failed_cleanly(_run(model_path, gif, other, "-o", out), capsys, out,
                           "a .gif output needs exactly one video, animated GIF or --camera")
