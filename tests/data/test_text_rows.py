"""data.dataset.text_rows: the list-file reader every format with a .txt list shares."""

from __future__ import annotations

from semseg.data.dataset import text_rows


def test_text_rows_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("a.png b.png\n\n   \n c.png  d.png \nlast\n")
    assert list(text_rows(path)) == [
        (1, "a.png b.png", ["a.png", "b.png"]),
        (4, " c.png  d.png ", ["c.png", "d.png"]),
        (5, "last", ["last"]),
    ]
