"""Colour masks, overlays, legends and index PNGs checked pixel by pixel on hand-built arrays."""

import numpy as np
import pytest
from PIL import Image

from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError
from semseg.inference.result import SegmentationResult
from semseg.visualize.overlay import (
    binary_masks,
    class_ids,
    colorize,
    draw_legend,
    legend_entries,
    mask_image,
    overlay,
)

NAMES = ("road", "car", "person", "sky")
PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255]], np.uint8)


def _mask() -> np.ndarray:
    """4x5 mask: 10 road, 6 car, 4 person, no sky."""
    return np.array(
        [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [1, 2, 2, 2, 2]], dtype=np.int64
    )


def test_colorize_maps_ids_to_palette_and_ignore_to_black():
    mask = np.array([[0, 1], [3, 255]])
    out = colorize(mask, PALETTE)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [0, 255, 0]
    assert out[1, 0].tolist() == [255, 0, 255]
    assert out[1, 1].tolist() == [0, 0, 0]


def test_overlay_red_over_black_is_red_times_alpha():
    image = np.zeros((3, 4, 3), np.uint8)
    out = overlay(image, np.zeros((3, 4), np.int64), PALETTE, alpha=0.4)
    # 255 * 0.4 = 102 in the RED channel only; a BGR swap would put it in channel 2.
    assert (out == np.array([102, 0, 0], np.uint8)).all()


def test_overlay_blends_each_channel_in_rgb_order():
    image = np.zeros((1, 2, 3), np.uint8)
    image[..., 2] = 200  # a blue image
    out = overlay(image, np.array([[0, 1]]), PALETTE, alpha=0.25)
    # road red: (0.75*0 + 0.25*255, 0, 0.75*200) = (63.75, 0, 150) -> (64, 0, 150)
    assert out[0, 0].tolist() == [64, 0, 150]
    # car green: (0, 63.75, 150) -> (0, 64, 150)
    assert out[0, 1].tolist() == [0, 64, 150]


def test_overlay_class_filter_leaves_other_pixels_untouched():
    image = np.full((4, 5, 3), 90, np.uint8)
    out = overlay(image, _mask(), PALETTE, alpha=1.0, classes=[2])
    person = _mask() == 2
    assert (out[person] == [0, 0, 255]).all()
    assert (out[~person] == 90).all()


def test_overlay_rejects_bad_alpha_and_shape():
    with pytest.raises(ConfigError, match="alpha"):
        overlay(np.zeros((4, 5, 3), np.uint8), _mask(), PALETTE, alpha=1.5)
    with pytest.raises(ConfigError, match="matching"):
        overlay(np.zeros((5, 4, 3), np.uint8), _mask(), PALETTE)


def test_class_ids_unknown_name_lists_valid_names():
    assert class_ids(["car", " person", "car"], NAMES) == [1, 2]
    with pytest.raises(ConfigError) as err:
        class_ids(["car", "bus"], NAMES)
    assert "'bus'" in str(err.value)
    assert "road, car, person, sky" in str(err.value)


def test_legend_entries_are_exactly_the_present_classes_by_share():
    entries = legend_entries(_mask(), NAMES, PALETTE)
    assert [e.name for e in entries] == ["road", "car", "person"]
    assert [e.share for e in entries] == pytest.approx([0.5, 0.3, 0.2])
    assert entries[0].color == (255, 0, 0)
    only = legend_entries(_mask(), NAMES, PALETTE, classes=[2, 3])
    assert [e.name for e in only] == ["person"]


def _colors_in(region: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in region.reshape(-1, 3)}


def test_draw_legend_appends_panel_with_present_swatches_only():
    image = np.full((120, 80, 3), 128, np.uint8)
    entries = legend_entries(_mask(), NAMES, PALETTE)
    out = draw_legend(image, *zip(*entries, strict=True))
    assert out.shape[0] == 120 and out.shape[1] > 80
    assert (out[:, :80] == image).all()  # the image itself is never covered
    panel = _colors_in(out[:, 80:])
    for color in PALETTE[:3]:
        assert tuple(int(v) for v in color) in panel
    assert (255, 0, 255) not in panel  # sky is absent: no swatch


def test_draw_legend_taller_than_image_grows_canvas_downwards():
    image = np.full((20, 30, 3), 7, np.uint8)
    names = [f"class{i}" for i in range(6)]
    colors = [(10 * i, 200, 0) for i in range(6)]
    out = draw_legend(image, names, colors, [1 / 6] * 6, font_size=12)
    assert out.shape[0] > 20 and out.shape[1] > 30
    assert (out[:20, :30] == 7).all()
    assert (out[20:, :30] == 255).all()  # the strip below the image is legend background
    assert draw_legend(image, [], [], []) is not None
    assert draw_legend(image, [], [], []).shape == image.shape


def test_binary_masks_default_present_and_named():
    masks = binary_masks(_mask(), NAMES)
    assert sorted(masks) == ["car", "person", "road"]
    assert masks["person"].sum() == 4 and masks["person"].dtype == bool
    named = binary_masks(_mask(), NAMES, ["sky"])
    assert not named["sky"].any()
    with pytest.raises(ConfigError, match="valid names"):
        binary_masks(_mask(), NAMES, ["tree"])


def test_mask_png_round_trips_indices_and_shows_palette(tmp_path):
    mask = np.array([[0, 1, 2], [3, 3, 0]])
    path = tmp_path / "m.png"
    mask_image(mask, PALETTE).save(path)
    back = Image.open(path)
    assert back.mode == "P"
    assert (np.asarray(back) == mask).all()
    assert (np.asarray(back.convert("RGB")) == PALETTE[mask]).all()
    with pytest.raises(ConfigError, match=r"0\.\.255"):
        mask_image(np.array([[300]]), PALETTE)


def test_result_views_agree_with_functions():
    info = DatasetInfo("t", NAMES, tuple(tuple(int(v) for v in c) for c in PALETTE))
    mask = _mask()
    probs = np.eye(4, dtype=np.float32)[mask].transpose(2, 0, 1)  # (4, H, W) one-hot
    image = np.zeros((4, 5, 3), np.uint8)
    res = SegmentationResult(image=image, mask=mask, probs=probs, info=info)
    assert res.class_shares() == pytest.approx({"road": 0.5, "car": 0.3, "person": 0.2})
    assert (res.color_mask() == PALETTE[mask]).all()
    plain = res.overlay(alpha=0.4, legend=False)
    assert (plain == np.rint(0.4 * PALETTE[mask].astype(float))).all()
    with_legend = res.overlay(alpha=0.4)
    assert with_legend.shape[1] > 5 and (with_legend[:4, :5] == plain).all()
    assert sorted(res.class_masks()) == ["car", "person", "road"]
    with pytest.raises(ConfigError, match="valid names"):
        res.overlay(classes=["bus"])
