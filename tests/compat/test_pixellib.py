"""PixelLib's documented calls, unchanged but for the import line, on a real photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from semseg.compat.pixellib import alter_bg, semantic_segmentation
from semseg.data.info import default_palette
from semseg.errors import ModelError
from semseg.fileio.images import read_image, save_image

skdata = pytest.importorskip("skimage.data")
MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "weights"
PERSON_RGB = default_palette(21)[15]  # (192, 128, 128)
WALL = (0, 300)  # a background pixel of the astronaut photo (row, col)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """sample.png (the astronaut), bg.png (the cat), mirror weights, a fresh cache."""
    if not (MIRROR / "espnetv2").is_dir() or not (MIRROR / "tflite").is_dir():
        pytest.skip(f"weights mirror {MIRROR} absent (EdgeNets and TFLite checkpoints)")
    root = tmp_path_factory.mktemp("pixellib")
    save_image(root / "sample.png", skdata.astronaut())
    save_image(root / "bg.png", skdata.chelsea())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEMSEG_WEIGHTS_MIRROR", str(MIRROR))
        mp.setenv("SEMSEG_CACHE", str(root / "cache"))
        mp.chdir(root)
        yield root


@pytest.fixture(scope="module")
def segment_image(workdir: Path) -> semantic_segmentation:
    seg = semantic_segmentation()
    with pytest.warns(UserWarning, match="PixelLib weights are not used"):
        seg.load_pascalvoc_model("deeplabv3_xception_tf_dim_ordering_tf_kernels.h5")
    return seg


@pytest.fixture(scope="module")
def change_bg(workdir: Path) -> alter_bg:
    bg = alter_bg(model_type="pb")
    bg.load_pascalvoc_model()
    return bg


def test_readme_segment_as_pascalvoc(segment_image: semantic_segmentation) -> None:
    segvalues, output = segment_image.segmentAsPascalvoc("sample.png",
                                                        output_image_name="image_new.png")
    assert list(segvalues["class_ids"][[0, -1]]) == [0, 15]
    assert "person" in segvalues["class_names"]
    person = segvalues["class_masks"][segvalues["class_names"].index("person")]
    assert segvalues["masks"].dtype == bool and segvalues["masks"].shape == (512, 512)
    assert segvalues["masks"].sum() >= person.sum() > 0.35 * 512 * 512
    assert abs(sum(segvalues["ratios"]) - 100.0) < 1e-6
    # Returned array is BGR (PixelLib's examples cv2.imwrite it); the file has true colours.
    assert np.array_equal(cv2.imread("image_new.png"), output)
    assert tuple(read_image("image_new.png")[person][0]) == PERSON_RGB


def test_overlay_and_frames_are_bgr_in_and_out(segment_image: semantic_segmentation) -> None:
    frame = cv2.imread("sample.png")  # BGR, as cv2.VideoCapture gives
    segvalues, overlay = segment_image.segmentFrameAsPascalvoc(frame, overlay=True)
    path_values, _ = segment_image.segmentAsPascalvoc("sample.png")
    assert np.array_equal(segvalues["masks"], path_values["masks"])
    person = segvalues["class_masks"][-1]
    expected = 0.3 * frame[person] + 0.7 * np.array(PERSON_RGB[::-1])  # PixelLib's 0.7 blend
    assert np.abs(overlay[person] - expected).max() <= 0.5 + 1e-3  # float32 rounding


def test_rgb_color_order_option(workdir: Path) -> None:
    seg = semantic_segmentation(color_order="rgb")
    seg.load_pascalvoc_model()
    segvalues, output = seg.segmentAsPascalvoc(skdata.astronaut(), process_frame=True)
    assert tuple(output[segvalues["class_masks"][-1]][0]) == PERSON_RGB


def test_process_video_pascalvoc(segment_image: semantic_segmentation, workdir: Path) -> None:
    writer = cv2.VideoWriter("clip.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 96))
    frame = cv2.resize(cv2.imread("sample.png"), (128, 96))
    for _ in range(2):
        writer.write(frame)
    writer.release()
    segvalues, output = segment_image.process_video_pascalvoc(
        "clip.mp4", overlay=True, frames_per_second=5, output_video_name="out.mp4")
    assert output.shape == (96, 128, 3) and 15 in segvalues["class_ids"]
    cap = cv2.VideoCapture("out.mp4")
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    cap.release()


def test_readme_alter_bg_calls(change_bg: alter_bg) -> None:
    blurred = change_bg.blur_bg("sample.png", extreme=True, detect="person",
                                output_image_name="blur_img.png")
    original = cv2.imread("sample.png")
    face = (slice(40, 150), slice(170, 280))
    assert (blurred[face] == original[face]).mean() > 0.95
    assert not np.array_equal(blurred[WALL], original[WALL])
    colored = change_bg.color_bg("sample.png", colors=(0, 0, 255),
                                 output_image_name="colored_bg.png", detect="person")
    assert tuple(read_image("colored_bg.png")[WALL]) == (0, 0, 255)  # blue, as documented
    assert tuple(colored[WALL]) == (255, 0, 0)  # BGR array
    change_bg.gray_bg("sample.png", output_image_name="gray_img.png", detect="person")
    r, g, b = read_image("gray_img.png")[WALL]
    assert r == g == b
    new = change_bg.change_bg_img(f_image_path="sample.png", b_image_path="bg.png",
                                  output_image_name="new_img.png")
    cat = cv2.resize(cv2.imread("bg.png"), (512, 512), interpolation=cv2.INTER_AREA)
    assert np.array_equal(new[WALL], cat[WALL]) and (new[face] == original[face]).mean() > 0.95


def test_alter_bg_video(change_bg: alter_bg) -> None:
    writer = cv2.VideoWriter("walk.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 128))
    writer.write(cv2.resize(cv2.imread("sample.png"), (128, 128)))
    writer.release()
    last = change_bg.color_video("walk.mp4", colors=(0, 255, 0), frames_per_second=5,
                                 output_video_name="green.mp4", detect="person")
    assert last.shape == (128, 128, 3) and tuple(last[0, 75]) == (0, 255, 0)  # BGR green
    assert Path("green.mp4").stat().st_size > 0


def test_pascalvoc_model_is_deeplabv3(segment_image: semantic_segmentation) -> None:
    assert segment_image._engine.segmenter("pascalvoc").spec.arch == "deeplabv3_mobilenetv2"


def test_readme_ade20k_calls(workdir: Path, camvid_root: Path) -> None:
    seg = semantic_segmentation()
    with pytest.warns(UserWarning, match="PixelLib weights are not used"):
        seg.load_ade20k_model("deeplabv3_xception65_ade20k.h5")
    street = str(camvid_root / "val" / "0016E5_08099.png")
    segvalues, output = seg.segmentAsAde20k(street, output_image_name="ade.png", overlay=True)
    names = segvalues["class_names"]
    top = [names[i] for i in np.argsort(segvalues["ratios"])[::-1][:3]]
    assert set(top) == {"building", "road", "sky"}
    assert output.shape == (360, 480, 3) and np.array_equal(cv2.imread("ade.png"), output)
    frame_values, _ = seg.segmentFrameAsAde20k(cv2.imread(street))
    assert np.array_equal(frame_values["class_ids"], segvalues["class_ids"])


def test_cityscapes_addition(workdir: Path, camvid_root: Path) -> None:
    seg = semantic_segmentation()
    with pytest.raises(ModelError, match=r"call load_cityscapes_model\(path\) first"):
        seg.segmentAsCityscapes("sample.png")
    seg.load_cityscapes_model()
    segvalues, output = seg.segmentAsCityscapes(str(camvid_root / "val" / "0016E5_08099.png"))
    assert segvalues["class_names"][int(np.argmax(segvalues["ratios"]))] == "road"
    assert output.shape == (360, 480, 3)
