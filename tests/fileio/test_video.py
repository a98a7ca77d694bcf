"""semseg.fileio.video reading animated GIFs with Pillow: frame count, frame rate, order, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from semseg.errors import InputFileError
from semseg.fileio.video import probe_video, segment_video

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _gif(path, durations):
    frames = [Image.new("RGB", (8, 6), c) for c in COLOURS]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


@pytest.mark.parametrize(("durations", "fps"), [
    ([100, 200, 300], 5.0),  # 3 frames in 0.6 s
    ([0, 0, 0], 10.0),  # no delay given: 100 ms each, as browsers show them
    (50, 20.0),
])
def test_probe_gif_frames_and_frame_rate_from_durations(tmp_path, durations, fps) -> None:
    info = probe_video(_gif(tmp_path / "a.gif", durations))
    assert (info.frames, info.size) == (3, (6, 8))
    assert info.fps == pytest.approx(fps)


class _Echo:
    """Stands in for a Segmenter: each result's overlay is the frame it was given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_batch(self, frames, **_):
        self.batches.append(len(frames))
        return [_Frame(f) for f in frames]


class _Frame:
    def __init__(self, frame) -> None:
        self.frame = frame

    def overlay(self, **_):
        return self.frame


def test_segment_video_reads_every_gif_frame_in_order(tmp_path) -> None:
    gif = _gif(tmp_path / "a.gif", 200)
    seg = _Echo()
    report = segment_video(seg, gif, tmp_path / "echo.gif", batch_size=2)
    assert report.frames == 3 and seg.batches == [2, 1]
    with Image.open(report.output) as img:
        assert img.n_frames == 3 and img.info["duration"] == 200
        for i, colour in enumerate(COLOURS):
            img.seek(i)
            assert (np.asarray(img.convert("RGB")) == colour).all()
    assert segment_video(_Echo(), gif, tmp_path / "two.gif", max_frames=2).frames == 2


def test_unreadable_gif_is_an_input_error(tmp_path) -> None:
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"GIF89a not really")
    with pytest.raises(InputFileError, match=r"bad\.gif"):
        probe_video(bad)
    with pytest.raises(InputFileError, match="not found"):
        probe_video(tmp_path / "missing.gif")
    with pytest.raises(InputFileError, match=r"bad\.gif"):
        segment_video(_Echo(), bad, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()
